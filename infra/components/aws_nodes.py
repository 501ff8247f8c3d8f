"""What hardens an EKS cluster beyond its own resource (infra.components.aws.EksCluster uses
these): the stack's disks and logs keys, the control plane log group, one launch template
per node group, the EBS CSI driver add-on with its identity, and private API access rules.

Every decision comes from the plan (infra.plan.cloud, infra.plan.aws_keys); each function
creates its resources as children of `parent`.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.plan import aws_keys
from infra.plan.aws_controllers import pod_identity_trust
from infra.plan.cloud import CloudPlan, PoolPlan

#: EKS-optimized AL2023 AMIs (standard and NVIDIA) boot from this device.
ROOT_DEVICE = "/dev/xvda"


def stack_key(name: str, purpose: str, description: str, policy: str, *, plan: CloudPlan,
              parent: pulumi.Resource) -> aws.kms.Key:
    return aws.kms.Key(f"{name}-{purpose}", description=description, enable_key_rotation=True,
                       deletion_window_in_days=30, policy=policy, tags={"tfplat:stack": plan.prefix},
                       opts=pulumi.ResourceOptions(parent=parent, protect=plan.deletion_protection))


def control_plane_logs(name: str, plan: CloudPlan, account: str, *, parent: pulumi.Resource) -> aws.cloudwatch.LogGroup:
    """The control plane's log group, created before the cluster so EKS writes into it:
    encrypted with the stack's logs key, kept for the tier's retention (CIS EKS 2.1.2)."""
    key = stack_key(name, "logs", f"EKS control plane logs of {plan.cluster_name}",
                    aws_keys.log_key_policy(account, plan.region, plan.cluster_name), plan=plan, parent=parent)
    return aws.cloudwatch.LogGroup(
        f"{name}-control-plane-logs", name=aws_keys.log_group_name(plan.cluster_name),
        retention_in_days=plan.control_plane_log_days, kms_key_id=key.arn, tags={"tfplat:stack": plan.prefix},
        opts=pulumi.ResourceOptions(parent=parent, protect=plan.deletion_protection))


def disk_key(name: str, plan: CloudPlan, account: str, *, parent: pulumi.Resource) -> aws.kms.Key | None:
    if not plan.disk_cmek:
        return None
    return stack_key(name, "disks", f"Node and volume disks of {plan.cluster_name}",
                     aws_keys.disk_key_policy(account), plan=plan, parent=parent)


def launch_template(name: str, plan: CloudPlan, pool: PoolPlan, key: aws.kms.Key | None, *,
                    parent: pulumi.Resource) -> aws.ec2.LaunchTemplate:
    """The node group's launch template: IMDSv2 only, with the plan's hop limit (1: pods
    cannot reach the node role's credentials), and an encrypted gp3 root volume (with the
    stack's disks key under cmek). It sets nothing EKS forbids in a managed node group's
    template (no subnet, instance profile, AMI or instance type), so EKS still merges its
    own bootstrap into the AMI's user data."""
    ebs: dict[str, Any] = {"volume_size": pool.disk_size_gb, "volume_type": "gp3", "encrypted": "true",
                              "delete_on_termination": "true"}
    if key is not None:
        ebs["kms_key_id"] = key.arn
    metadata: Any = {"http_endpoint": "enabled", "http_tokens": "required",
                     "http_put_response_hop_limit": plan.node_metadata_hop_limit, "instance_metadata_tags": "disabled"}
    volumes: Any = [{"device_name": ROOT_DEVICE, "ebs": ebs}]
    tagged: Any = [{"resource_type": "volume", "tags": {"tfplat:stack": plan.prefix, "tfplat:pool": pool.pool}}]
    return aws.ec2.LaunchTemplate(
        f"{name}-{pool.key}", name_prefix=f"{plan.prefix}-{pool.key}-", update_default_version=True,
        metadata_options=metadata, block_device_mappings=volumes, tag_specifications=tagged,
        tags={"tfplat:stack": plan.prefix}, opts=pulumi.ResourceOptions(parent=parent))


def api_access(name: str, cluster: aws.eks.Cluster, plan: CloudPlan, *, parent: pulumi.Resource) -> None:
    """A private endpoint answers only what its security group lets in: the cluster's own
    group admits the nodes; these rules admit the authorized internal ranges (the deploy
    runner's subnet, the VPN) on 443."""
    if plan.public_endpoint:
        return
    group = cluster.vpc_config.cluster_security_group_id
    for i, cidr in enumerate(plan.authorized_cidrs):
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-api-from-{i}", security_group_id=group, cidr_ipv4=cidr, ip_protocol="tcp", from_port=443,
            to_port=443, description=f"Kubernetes API from authorized network {cidr}",
            opts=pulumi.ResourceOptions(parent=parent))


def ebs_csi_driver(name: str, plan: CloudPlan, cluster: aws.eks.Cluster, key: aws.kms.Key | None, *,
                   version: str, after: Sequence[pulumi.Resource], parent: pulumi.Resource) -> aws.eks.Addon:
    """The EBS CSI driver add-on (EKS has no other EBS provisioner), its controller's role
    through Pod Identity (the AWS-managed driver policy, plus the disks key under cmek)."""
    role = aws.iam.Role(
        f"{name}-ebs-csi", name=f"{plan.prefix}-ebs-csi", description=f"EBS CSI controller of {plan.cluster_name}",
        assume_role_policy=json.dumps(pod_identity_trust(plan.cluster_name, aws_keys.EBS_CSI_NAMESPACE,
                                                         aws_keys.EBS_CSI_SERVICE_ACCOUNT)),
        tags={"tfplat:stack": plan.prefix}, opts=pulumi.ResourceOptions(parent=parent))
    grants: list[pulumi.Resource] = [aws.iam.RolePolicyAttachment(
        f"{name}-ebs-csi-policy", role=role.name,
        policy_arn=f"arn:aws:iam::aws:policy/{aws_keys.EBS_CSI_MANAGED_POLICY}",
        opts=pulumi.ResourceOptions(parent=parent))]
    if key is not None:
        grants.append(aws.iam.RolePolicy(f"{name}-ebs-csi-disks-key", role=role.id,
                                         policy=key.arn.apply(aws_keys.ebs_csi_key_policy),
                                         opts=pulumi.ResourceOptions(parent=parent)))
    return aws.eks.Addon(
        f"{name}-aws-ebs-csi-driver", cluster_name=cluster.name, addon_name="aws-ebs-csi-driver", addon_version=version,
        resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="PRESERVE",
        pod_identity_associations=[{"role_arn": role.arn, "service_account": aws_keys.EBS_CSI_SERVICE_ACCOUNT}],
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[*after, *grants]))
