"""AWS: VPC with private subnets, NAT and flow logs, an EKS cluster with KMS-encrypted
secrets and a restricted endpoint, pinned add-ons, managed node groups from the plan (shaped
for the cluster autoscaler), the model bucket, and the serving identity (an IAM role bound to
the serving service accounts through EKS Pod Identity)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components import aws_nodes
from infra.config.spec import AwsSettings
from infra.plan import flow_logs
from infra.plan.aws_autoscaler import node_labels, node_template_tags
from infra.plan.aws_controllers import pod_identity_trust
from infra.plan.cloud import CloudPlan, PoolPlan, aws_subnets

POLICY = "arn:aws:iam::aws:policy/"
#: Add-on configuration (JSON, the add-on version's schema): the VPC CNI runs its network
#: policy agent, which enforces NetworkPolicies (add-on v1.14.0-eksbuild.3 and later).
ADDON_CONFIG = {"vpc-cni": json.dumps({"enableNetworkPolicy": "true"})}
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")


def _assume(service: str, actions: Sequence[str] = ("sts:AssumeRole",)) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}]})


class AwsNetwork(pulumi.ComponentResource):
    """VPC, one private and one public subnet per zone, NAT per zone in prod (one
    otherwise), an S3 gateway endpoint for the private subnets, and flow logs of all
    traffic to a private bucket that keeps them a year (infra.plan.flow_logs); or the
    existing VPC and private subnets named in config, whose owner keeps their flow logs."""

    def __init__(self, name: str, plan: CloudPlan, settings: AwsSettings, *,
                 opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:aws:Network", name, None, opts)
        self.private_subnets: dict[str, pulumi.Input[str]] = {}
        if settings.existing_network is not None:
            ex = settings.existing_network
            self.vpc_id: pulumi.Input[str] = ex.vpc_id
            self.private_subnets = {f"existing-{i}": s for i, s in enumerate(ex.private_subnet_ids)}
            self.register_outputs({})
            return
        child = pulumi.ResourceOptions(parent=self)
        tags = {"Name": plan.prefix, "tfplat:stack": plan.prefix}
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=settings.vpc_cidr, enable_dns_support=True,
                          enable_dns_hostnames=True, tags=tags, opts=child)
        self.flow_log_bucket = self._flow_logs(name, plan, settings, vpc, tags)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)
        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags={**tags, "Name": f"{plan.prefix}-public"},
                                       routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}], opts=child)
        nat_ids: list[pulumi.Output[str]] = []
        private_rts: list[pulumi.Output[str]] = []
        for i, sn in enumerate(aws_subnets(settings.vpc_cidr, plan.zones)):
            public = aws.ec2.Subnet(
                f"{name}-public-{sn.zone}", vpc_id=vpc.id, cidr_block=sn.public_cidr, availability_zone=sn.zone,
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{plan.prefix}-public-{sn.zone}", "kubernetes.io/role/elb": "1"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-public-{sn.zone}", subnet_id=public.id,
                                          route_table_id=public_rt.id, opts=child)
            if plan.ha_nat or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{sn.zone}", domain="vpc", tags=tags, opts=child)
                nat = aws.ec2.NatGateway(f"{name}-nat-{sn.zone}", allocation_id=eip.id, subnet_id=public.id,
                                         tags={**tags, "Name": f"{plan.prefix}-nat-{sn.zone}"},
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]))
                nat_ids.append(nat.id)
            private = aws.ec2.Subnet(
                f"{name}-private-{sn.zone}", vpc_id=vpc.id, cidr_block=sn.private_cidr, availability_zone=sn.zone,
                tags={**tags, "Name": f"{plan.prefix}-private-{sn.zone}", "kubernetes.io/role/internal-elb": "1"},
                opts=child)
            rt = aws.ec2.RouteTable(f"{name}-private-{sn.zone}", vpc_id=vpc.id,
                                    routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat_ids[-1]}],
                                    tags={**tags, "Name": f"{plan.prefix}-private-{sn.zone}"}, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{sn.zone}", subnet_id=private.id,
                                          route_table_id=rt.id, opts=child)
            private_rts.append(rt.id)
            self.private_subnets[sn.zone] = private.id
        # Model versions (the init container's S3 sync) and ECR image layers are S3 reads:
        # through a gateway endpoint they skip the NAT gateways' per-GB charge and stay on
        # AWS's network. Gateway endpoints cost nothing themselves.
        aws.ec2.VpcEndpoint(f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{plan.region}.s3",
                            vpc_endpoint_type="Gateway", route_table_ids=private_rts,
                            tags={**tags, "Name": f"{plan.prefix}-s3"}, opts=child)
        self.vpc_id = vpc.id
        self.register_outputs({"vpc": vpc.id, "flowLogs": self.flow_log_bucket.bucket})

    def _flow_logs(self, name: str, plan: CloudPlan, settings: AwsSettings, vpc: aws.ec2.Vpc,
                   tags: dict[str, str]) -> aws.s3.Bucket:
        region, account = plan.region, settings.account_id
        bucket, policy = _private_s3_bucket(
            f"{name}-flow-logs", flow_logs.bucket_name(plan.prefix, account), kms_key=None,
            noncurrent_days=flow_logs.NONCURRENT_DAYS, expire_days=flow_logs.RETENTION_DAYS,
            protect=plan.deletion_protection, tags=tags, parent=self,
            extra_statements=lambda arn: flow_logs.delivery_statements(arn, region, account))
        aws.ec2.FlowLog(f"{name}-flow-logs", vpc_id=vpc.id, traffic_type=flow_logs.TRAFFIC_TYPE,
                        log_destination_type="s3", log_destination=bucket.arn,
                        destination_options={"file_format": flow_logs.FILE_FORMAT,
                                             "hive_compatible_partitions": True, "per_hour_partition": True},
                        max_aggregation_interval=flow_logs.AGGREGATION_INTERVAL_S,
                        tags={**tags, "Name": f"{plan.prefix}-flow-logs"},
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))
        return bucket


def _node_group_args(p: PoolPlan, subnets: Mapping[str, pulumi.Input[str]],
                     template: aws.ec2.LaunchTemplate) -> dict[str, Any]:
    zone_subnets = [s for z, s in subnets.items() if z in p.zones] or list(subnets.values())
    return {
        "instance_types": [p.machine_type], "ami_type": p.ami_type,
        "capacity_type": "SPOT" if p.spot else "ON_DEMAND",
        # The disk size, metadata options and root volume encryption are the template's.
        "launch_template": {"id": template.id, "version": template.latest_version.apply(str)},
        "subnet_ids": zone_subnets, "labels": node_labels(p),
        "taints": [{"key": t.key, "value": t.value, "effect": "NO_SCHEDULE"} for t in p.taints],
        "scaling_config": {"min_size": p.min_nodes, "max_size": p.max_nodes, "desired_size": p.min_nodes},
        "update_config": {"max_unavailable": 1},
        # The node-template tags let the cluster autoscaler build a node of a group at zero
        # (it reads them, with the labels and taints, through eks:DescribeNodegroup).
        "tags": {"tfplat:pool": p.pool, **node_template_tags(p)},
    }


class EksCluster(pulumi.ComponentResource):
    """EKS with secrets encrypted by a rotating KMS key, private endpoint access (a public
    one only with access: public, restricted to the configured CIDRs), API authentication,
    every control plane log type into an encrypted log group with a retention, pinned
    add-ons (the VPC CNI with its network policy agent on, so NetworkPolicies are
    enforced; the EBS CSI driver), and managed node groups from the plan, each with a
    launch template (IMDSv2 only, hop limit 1, encrypted root volume; infra.components.aws_nodes)."""

    def __init__(self, name: str, plan: CloudPlan, network: AwsNetwork, *, account: str,
                 opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:aws:Cluster", name, None, opts)
        addons = plan.eks_addons
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(f"{name}-secrets", description=f"EKS secrets of {plan.cluster_name}",
                          enable_key_rotation=True, deletion_window_in_days=30,
                          opts=pulumi.ResourceOptions(parent=self, protect=plan.deletion_protection))
        role = aws.iam.Role(f"{name}-cluster", name=f"{plan.prefix}-cluster",
                            assume_role_policy=_assume("eks.amazonaws.com"), opts=child)
        attach = aws.iam.RolePolicyAttachment(f"{name}-cluster-policy", role=role.name,
                                              policy_arn=POLICY + "AmazonEKSClusterPolicy", opts=child)
        logs = aws_nodes.control_plane_logs(name, plan, account, parent=self)
        self.disk_key = aws_nodes.disk_key(name, plan, account, parent=self)
        cluster = aws.eks.Cluster(
            name, name=plan.cluster_name, version=plan.kubernetes_version, role_arn=role.arn,
            vpc_config={"subnet_ids": list(network.private_subnets.values()), "endpoint_private_access": True,
                        "endpoint_public_access": plan.public_endpoint,
                        "public_access_cidrs": list(plan.authorized_cidrs) if plan.public_endpoint else None},
            encryption_config={"provider": {"key_arn": key.arn}, "resources": ["secrets"]},
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            enabled_cluster_log_types=["api", "audit", "authenticator", "controllerManager", "scheduler"],
            upgrade_policy={"support_type": "STANDARD"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attach, logs], custom_timeouts=pulumi.CustomTimeouts(
                create="45m", update="60m", delete="45m")))
        aws_nodes.api_access(name, cluster, plan, parent=self)

        node_role = aws.iam.Role(f"{name}-nodes", name=f"{plan.prefix}-nodes",
                                 assume_role_policy=_assume("ec2.amazonaws.com"), opts=child)
        node_attach = [aws.iam.RolePolicyAttachment(f"{name}-nodes-{p}", role=node_role.name, policy_arn=POLICY + p,
                                                    opts=child) for p in NODE_POLICIES]
        early = {a: aws.eks.Addon(f"{name}-{a}", cluster_name=cluster.name, addon_name=a, addon_version=addons[a],
                                  resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="PRESERVE",
                                  configuration_values=ADDON_CONFIG.get(a), opts=child)
                 for a in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")}
        self.node_groups: dict[str, aws.eks.NodeGroup] = {}
        for p in plan.pools.values():
            self.node_groups[p.key] = aws.eks.NodeGroup(
                f"{name}-{p.key}", cluster_name=cluster.name, node_role_arn=node_role.arn,
                # A prefix: a replacement creates the new group before the old one is deleted.
                node_group_name_prefix=f"{p.key}-",
                **_node_group_args(p, network.private_subnets,
                                   aws_nodes.launch_template(name, plan, p, self.disk_key, parent=self)),
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[*node_attach, early["vpc-cni"]],
                    ignore_changes=["scalingConfig.desiredSize"],  # the cluster autoscaler owns it
                    custom_timeouts=pulumi.CustomTimeouts(create=p.create_timeout, update=p.create_timeout,
                                                          delete=p.create_timeout)))
        # CoreDNS needs nodes to schedule on before the add-on reports healthy.
        aws.eks.Addon(f"{name}-coredns", cluster_name=cluster.name, addon_name="coredns",
                      addon_version=addons["coredns"], resolve_conflicts_on_create="OVERWRITE",
                      resolve_conflicts_on_update="PRESERVE",
                      opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.node_groups.values())))
        aws_nodes.ebs_csi_driver(name, plan, cluster, self.disk_key, version=addons["aws-ebs-csi-driver"],
                                 after=[early["eks-pod-identity-agent"], *self.node_groups.values()], parent=self)
        self.cluster = cluster
        self.pod_identity_agent = early["eks-pod-identity-agent"]
        self.endpoint = cluster.endpoint
        self.ca_certificate = cluster.certificate_authority.apply(lambda c: c.data or "")
        self.register_outputs({"name": cluster.name, "endpoint": cluster.endpoint})


def pod_identity_role(name: str, *, plan: CloudPlan, cluster: EksCluster, role_name: str, description: str,
                      trust: Mapping[str, Any], namespace: str, service_account: str,
                      policy: Callable[[str], str], parent: pulumi.Resource,
                      ) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
    """An in-cluster controller's AWS identity through EKS Pod Identity: the role (`trust`),
    its inline policy (`policy`, from the cluster's ARN, which carries the partition, region
    and account that scope its statements) and the association of the role with
    namespace/service_account, created after the pod identity agent add-on.

    Returns the role and what the controller's pods must wait for: Pod Identity only gives
    credentials to pods created after the association exists, and pods started before the
    policy would start without permissions and back off."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(f"{name}-role", name=role_name, description=description,
                        assume_role_policy=json.dumps(trust), tags={"tfplat:stack": plan.prefix}, opts=child)
    role_policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=cluster.cluster.arn.apply(policy),
                                     opts=child)
    association = aws.eks.PodIdentityAssociation(
        f"{name}-pod-identity", cluster_name=cluster.cluster.name, namespace=namespace,
        service_account=service_account, role_arn=role.arn,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[cluster.pod_identity_agent]))
    return role, [association, role_policy]


def private_s3_bucket(name: str, bucket_name: str, *, kms_key: str | None, noncurrent_days: int, protect: bool,
                      tags: dict[str, str], parent: pulumi.Resource,
                      service_reader: tuple[str, pulumi.Output[str]] | None = None) -> aws.s3.Bucket:
    """Bucket `<name>-bucket` with every guard (`<name>-<guard>`): public access blocked,
    bucket-owner-enforced, versioned, encrypted (KMS key or SSE-S3), noncurrent versions
    expire, TLS-only policy. `service_reader` = (service principal, source ARN) lets exactly
    that one caller read objects (CloudFront through origin access control)."""
    bucket, _ = _private_s3_bucket(name, bucket_name, kms_key=kms_key, noncurrent_days=noncurrent_days,
                                   protect=protect, tags=tags, parent=parent, service_reader=service_reader)
    return bucket


def _private_s3_bucket(name: str, bucket_name: str, *, kms_key: str | None, noncurrent_days: int, protect: bool,
                       tags: dict[str, str], parent: pulumi.Resource,
                       service_reader: tuple[str, pulumi.Output[str]] | None = None,
                       expire_days: int | None = None,
                       extra_statements: Callable[[str], list[dict[str, Any]]] | None = None,
                       versioned: bool = True,
                       ) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
    """private_s3_bucket, plus: current objects expire after `expire_days` (logs), the
    policy gets `extra_statements(bucket ARN)`, and the policy is returned too, for
    whatever must not start before it applies. versioned=False: no BucketVersioning (a
    bucket whose objects are rewritten, never restored: training checkpoints)."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(f"{name}-bucket", bucket=bucket_name, force_destroy=False, tags=tags,
                           opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    block = aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=bucket.id, block_public_acls=True,
                                           block_public_policy=True, ignore_public_acls=True,
                                           restrict_public_buckets=True, opts=child)
    aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=bucket.id,
                                   rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
    if versioned:
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=child)
    sse: dict[str, Any] = ({"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key} if kms_key
                           else {"sse_algorithm": "AES256"})
    rule: Any = {"apply_server_side_encryption_by_default": sse, "bucket_key_enabled": bool(kms_key)}
    aws.s3.BucketServerSideEncryptionConfiguration(f"{name}-encryption", bucket=bucket.id, rules=[rule], opts=child)
    rules: list[Any] = [{
        "id": "expire-noncurrent", "status": "Enabled", "filter": {},
        "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
        "abort_incomplete_multipart_upload": {"days_after_initiation": 7}}]
    if expire_days is not None:
        rules.append({"id": "expire-current", "status": "Enabled", "filter": {},
                      "expiration": {"days": expire_days}})
    aws.s3.BucketLifecycleConfiguration(f"{name}-lifecycle", bucket=bucket.id, rules=rules, opts=child)

    def policy(args: list[str]) -> str:
        arn, source = args
        statements: list[dict[str, Any]] = [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]
        if service_reader is not None:
            statements.append({"Sid": "ServiceReads", "Effect": "Allow",
                               "Principal": {"Service": service_reader[0]}, "Action": "s3:GetObject",
                               "Resource": f"{arn}/*", "Condition": {"StringEquals": {"AWS:SourceArn": source}}})
        if extra_statements is not None:
            statements += extra_statements(arn)
        return json.dumps({"Version": "2012-10-17", "Statement": statements})

    source = service_reader[1] if service_reader is not None else ""
    # After the public access block: a policy granting one service's source ARN is not public.
    bucket_policy = aws.s3.BucketPolicy(f"{name}-tls-only", bucket=bucket.id,
                                        policy=pulumi.Output.all(bucket.arn, source).apply(policy),
                                        opts=pulumi.ResourceOptions(parent=parent, depends_on=[block]))
    return bucket, bucket_policy


class S3ModelStore(pulumi.ComponentResource):
    """The model bucket (public access blocked, bucket-owner-enforced, versioned, encrypted,
    TLS only, old versions expire) and the serving role, read-only on it, associated with
    the serving service accounts through EKS Pod Identity."""

    def __init__(self, name: str, plan: CloudPlan, cluster: EksCluster, *, opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:aws:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        b = plan.model_bucket
        bucket = private_s3_bucket(name, b.name, kms_key=b.kms_key,
                                   noncurrent_days=b.noncurrent_version_days, protect=plan.deletion_protection,
                                   tags={"tfplat:stack": plan.prefix}, parent=self)

        # Only the serving service accounts of this cluster may take the role, as for the
        # controllers' roles (infra.plan.aws_controllers.pod_identity_trust).
        trust = pod_identity_trust(plan.cluster_name, plan.serving_namespace, plan.serving_service_accounts)
        role = aws.iam.Role(f"{name}-serving", name=plan.serving_identity, assume_role_policy=json.dumps(trust),
                            opts=child)
        statements: list[dict[str, Any]] = [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{b.name}"},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{b.name}/*"}]
        if b.kms_key:
            statements.append({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": b.kms_key})
        aws.iam.RolePolicy(f"{name}-serving-read", role=role.id,
                           policy=json.dumps({"Version": "2012-10-17", "Statement": statements}), opts=child)
        for ksa in plan.serving_service_accounts:
            aws.eks.PodIdentityAssociation(
                f"{name}-pod-identity-{ksa}", cluster_name=cluster.cluster.name, namespace=plan.serving_namespace,
                service_account=ksa, role_arn=role.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster.pod_identity_agent]))
        self.bucket = bucket
        self.identity = role.arn
        self.register_outputs({"bucket": bucket.bucket, "identity": role.arn})
