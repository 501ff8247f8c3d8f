"""The hardening the plan decides, as the program registers it under the mock engine: endpoint
access, Binary Authorization, CMEK disks and the encrypted StorageClass, EKS launch templates,
the VPC CNI's policy agent, the control plane log group, the EBS CSI driver, trust conditions,
the HTTPS redirect and the image admission policies."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi

from infra.offline import engine
from infra.offline.outputs import computed_outputs
from infra.offline.plan import engine_config, project_name
from infra.plan import aws_keys
from infra.plan.manifests.admission import DIGESTS, REGISTRIES
from infra.plan.storage import STORAGE_CLASS
from tests.conftest import REPO, shared_run
from tests.program.records import named, of_type, one_of_type

CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
KPS = "kubernetes:helm.sh/v3:Release"


def _api_host(stack: str) -> str:
    """What GkeCluster hands the Kubernetes provider as the API's address."""
    plan, _ = shared_run(stack)

    def program() -> None:
        from infra.components.gcp import GcpNetwork, GkeCluster

        assert plan.stack.gcp is not None
        net = GcpNetwork("network", plan.cloud, plan.stack.gcp, pulumi.ResourceOptions())
        gke = GkeCluster("gke", plan.cloud, plan.stack.gcp, net.refs, admission=plan.admission,
                         opts=pulumi.ResourceOptions())
        pulumi.export("apiHost", gke.api_host)
        pulumi.export("endpoint", gke.endpoint)

    values, secret = engine_config(REPO, stack)
    outputs = engine.run(program, project=project_name(REPO), stack=stack, config=values, secret_keys=secret).outputs
    assert outputs["endpoint"]
    return str(outputs["apiHost"]) if outputs["apiHost"] != outputs["endpoint"] else "ip"


def test_prod_reaches_its_api_through_the_dns_endpoint_and_dev_through_the_ip() -> None:
    assert _api_host("prod").endswith(".us-central1.gke.goog")
    assert _api_host("dev") == "ip"


def test_gke_endpoint_and_cluster_settings() -> None:
    prod, dev = one_of_type(shared_run("prod"), CLUSTER).inputs, one_of_type(shared_run("dev"), CLUSTER).inputs
    assert prod["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert prod["controlPlaneEndpointsConfig"] == {"dnsEndpointConfig": {"allowExternalTraffic": True}}
    assert dev["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert dev["controlPlaneEndpointsConfig"] == {"dnsEndpointConfig": {"allowExternalTraffic": False}}
    for c in (prod, dev):
        assert c["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
        assert c["enableIntranodeVisibility"] is True and c["securityPostureConfig"] == {"mode": "BASIC"}
        assert c["enableLegacyAbac"] is False and c["enableKubernetesAlpha"] is False
        assert c["masterAuth"] == {"clientCertificateConfig": {"issueClientCertificate": False}}


def test_prod_boot_disks_use_the_stacks_disks_key_granted_to_compute_engine() -> None:
    run = shared_run("prod")
    plan, _ = run
    key = named(run, "gcp:kms/cryptoKey:CryptoKey", "gke-disks-key")
    assert key.inputs["name"] == "disks" and key.options.get("protect") is True
    # The name the plan knew before the key existed is the key ring's key of that name.
    ring = "projects/acme-ml-prod/locations/us-central1/keyRings/tfplat-prod-gke"
    assert plan.cloud.disk_key == f"{ring}/cryptoKeys/disks"
    assert grant_key(run, "gke-disks-key-compute") == plan.cloud.disk_key
    grant = named(run, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "gke-disks-key-compute")
    assert grant.inputs["member"].endswith("@compute-system.iam.gserviceaccount.com")
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    for pool in of_type(run, POOL):
        assert pool.inputs["nodeConfig"]["bootDiskKmsKey"] == plan.cloud.disk_key
        assert pool.inputs["nodeConfig"]["kubeletConfig"] == {"insecureKubeletReadonlyPortEnabled": "FALSE"}
        assert grant.urn in pool.depends_on  # no pool before Compute Engine may use the key
    assert one_of_type(run, CLUSTER).inputs["nodeConfig"]["bootDiskKmsKey"] == plan.cloud.disk_key


def grant_key(run: tuple[Any, Any], name: str) -> str:
    return str(named(run, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", name).inputs["cryptoKeyId"])


def _arn(record: Any) -> str:
    """The ARN the mock engine gives a KMS key or IAM role (infra.offline.outputs)."""
    if record.type == "aws:iam/role:Role":
        return f"arn:aws:iam::111122223333:role/{record.inputs['name']}"
    # Outside a program the mock reads no stack config: put prod-aws's region and account in.
    arn = str(computed_outputs(record.type, record.name, record.inputs)["arn"])
    return re.sub(r"^arn:aws:kms:[^:]*:[^:]*:", "arn:aws:kms:us-east-1:111122223333:", arn)


def test_dev_keeps_google_managed_disk_keys() -> None:
    run = shared_run("dev")
    assert [k.name for k in of_type(run, "gcp:kms/cryptoKey:CryptoKey")] == ["gke-secrets-key"]
    assert all("bootDiskKmsKey" not in p.inputs["nodeConfig"] for p in of_type(run, POOL))
    assert of_type(run, SC) == []
    kps = named(run, KPS, "kube-prometheus-stack").inputs["values"]
    assert "storageClassName" not in kps["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]


def test_binary_authorization_policy_per_tier() -> None:
    for stack, mode in (("prod", "ENFORCED_BLOCK_AND_AUDIT_LOG"), ("staging", "DRYRUN_AUDIT_LOG_ONLY")):
        run = shared_run(stack)
        plan, _ = run
        policy = one_of_type(run, "gcp:binaryauthorization/policy:Policy")
        assert policy.inputs["defaultAdmissionRule"] == {"evaluationMode": "ALWAYS_DENY", "enforcementMode": mode}
        assert policy.inputs["globalPolicyEvaluationMode"] == "ENABLE"
        patterns = [p["namePattern"] for p in policy.inputs["admissionWhitelistPatterns"]]
        assert patterns == list(plan.admission.binauthz_patterns)
        assert "docker.io/tensorflow/serving*" in patterns
        assert policy.urn in one_of_type(run, CLUSTER).depends_on


def test_monitoring_volumes_use_the_encrypted_storage_class() -> None:
    gke, eks = shared_run("prod"), shared_run("prod-aws")
    sc = one_of_type(gke, SC).inputs
    assert sc["provisioner"] == "pd.csi.storage.gke.io"
    assert sc["parameters"]["disk-encryption-kms-key"] == gke[0].cloud.disk_key
    aws_sc = one_of_type(eks, SC).inputs
    disks = named(eks, "aws:kms/key:Key", "eks-disks")
    assert aws_sc["provisioner"] == "ebs.csi.aws.com"
    assert aws_sc["parameters"] == {"type": "gp3", "encrypted": "true", "kmsKeyId": _arn(disks)}
    for run in (gke, eks):
        values = named(run, KPS, "kube-prometheus-stack").inputs["values"]
        claims = [values["prometheus"]["prometheusSpec"]["storageSpec"],
                  values["alertmanager"]["alertmanagerSpec"]["storage"]]
        assert [c["volumeClaimTemplate"]["spec"]["storageClassName"] for c in claims] == [STORAGE_CLASS] * 2


def test_eks_node_groups_take_their_metadata_and_volumes_from_a_launch_template() -> None:
    run = shared_run("prod-aws")
    plan, _ = run
    templates = {t.name: t for t in of_type(run, "aws:ec2/launchTemplate:LaunchTemplate")}
    disks = named(run, "aws:kms/key:Key", "eks-disks")
    for group in of_type(run, "aws:eks/nodeGroup:NodeGroup"):
        template = templates[group.name]
        assert group.inputs["launchTemplate"]["id"].startswith("lt-") and group.inputs["launchTemplate"]["version"]
        assert template.urn in group.depends_on and "diskSize" not in group.inputs
        t = template.inputs
        assert t["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                        "httpPutResponseHopLimit": 1, "instanceMetadataTags": "disabled"}
        [volume] = t["blockDeviceMappings"]
        assert volume["deviceName"] == "/dev/xvda"
        assert volume["ebs"]["encrypted"] == "true" and volume["ebs"]["kmsKeyId"] == _arn(disks)
        pool = plan.cloud.pools[group.inputs["tags"]["tfplat:pool"]]
        assert volume["ebs"]["volumeSize"] == pool.disk_size_gb
        # Nothing EKS forbids in a managed node group's template.
        assert not {"imageId", "instanceType", "iamInstanceProfile", "networkInterfaces"} & set(t)
    policy = json.loads(disks.inputs["policy"])
    assert aws_keys.autoscaling_role(plan.stack.aws.account_id) in json.dumps(policy)  # type: ignore[union-attr]


def test_eks_enforces_network_policies_and_logs_into_its_own_group() -> None:
    run = shared_run("prod-aws")
    cni = named(run, "aws:eks/addon:Addon", "eks-vpc-cni")
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    group = one_of_type(run, "aws:cloudwatch/logGroup:LogGroup")
    cluster = one_of_type(run, "aws:eks/cluster:Cluster")
    assert group.inputs["name"] == "/aws/eks/tfplat-prod-aws/cluster" and group.inputs["retentionInDays"] == 365
    assert group.urn in cluster.depends_on  # EKS would create it, unencrypted and kept forever
    key = named(run, "aws:kms/key:Key", "eks-logs")
    assert group.inputs["kmsKeyId"] == _arn(key)
    statement = json.loads(key.inputs["policy"])["Statement"][1]
    assert statement["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}


def test_eks_ebs_csi_driver_with_its_own_identity() -> None:
    run = shared_run("prod-aws")
    addon = named(run, "aws:eks/addon:Addon", "eks-aws-ebs-csi-driver")
    role = named(run, "aws:iam/role:Role", "eks-ebs-csi")
    assert addon.inputs["podIdentityAssociations"] == [{"roleArn": _arn(role),
                                                        "serviceAccount": "ebs-csi-controller-sa"}]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert trust["aws:RequestTag/kubernetes-service-account"] == "ebs-csi-controller-sa"
    assert all(g.urn in addon.depends_on for g in of_type(run, "aws:eks/nodeGroup:NodeGroup"))
    key_policy = json.loads(named(run, "aws:iam/rolePolicy:RolePolicy", "eks-ebs-csi-disks-key").inputs["policy"])
    assert key_policy["Statement"][1]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_the_serving_role_trusts_only_the_serving_service_accounts() -> None:
    run = shared_run("prod-aws")
    plan, _ = run
    role = named(run, "aws:iam/role:Role", "models-serving")
    conditions = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert conditions == {"aws:RequestTag/eks-cluster-name": "tfplat-prod-aws",
                          "aws:RequestTag/kubernetes-namespace": plan.stack.serving.namespace,
                          "aws:RequestTag/kubernetes-service-account": sorted(plan.cloud.serving_service_accounts)}


def test_http_redirects_to_https_where_the_gateway_has_tls() -> None:
    route = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
    for stack in ("prod", "prod-aws", "staging"):
        run = shared_run(stack)
        redirect = named(run, route, "serving-tfplat-https-redirect").inputs["spec"]
        assert redirect["parentRefs"] == [{"name": "tfplat", "sectionName": "http"}]
        assert redirect["rules"] == [{"filters": [{"type": "RequestRedirect",
                                                   "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]
        for r in of_type(run, route):
            if r.name.endswith("-rest"):
                assert [p["sectionName"] for p in r.inputs["spec"]["parentRefs"]] == ["https"]
    assert [r.name for r in of_type(shared_run("dev"), route) if r.name.endswith("redirect")] == []


def test_admission_policies_exist_before_the_serving_namespace() -> None:
    run = shared_run("prod")
    vaps = {r.inputs["metadata"]["name"]: r for r in
            of_type(run, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")}
    bindings = of_type(run, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")
    assert set(vaps) == {REGISTRIES, DIGESTS}
    assert all(p.urn in b.depends_on for b in bindings for p in vaps.values())
    namespace = named(run, "kubernetes:core/v1:Namespace", "serving")
    assert {r.urn for r in [*vaps.values(), *bindings]} <= set(namespace.depends_on)
