"""The KMS key policies and IAM documents of an EKS stack's own keys, built from the plan.

Two keys besides the secrets key: `disks` (node boot volumes through the launch templates,
and the EBS volumes of the tfplat-encrypted StorageClass) and `logs` (the control plane log
group). A key policy must name every AWS service that uses the key on the stack's behalf;
IAM policies can only grant roles of the account.
"""

from __future__ import annotations

from typing import Any

from infra.plan.aws_controllers import policy_json

#: Encrypting EBS volumes: what the Auto Scaling service-linked role (node group instances'
#: root volumes) and the EBS CSI controller (persistent volumes) do with the key.
EBS_KEY_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
EBS_CSI_NAMESPACE = "kube-system"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_MANAGED_POLICY = "service-role/AmazonEBSCSIDriverPolicy"


def _root(account: str) -> dict[str, Any]:
    """The account may manage the key through IAM (the default key policy's statement)."""
    return {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*", "Resource": "*"}


def autoscaling_role(account: str) -> str:
    """Auto Scaling's service-linked role: it launches the managed node groups' instances and
    so creates their encrypted root volumes. The account gets it with its first Auto Scaling
    group (docs/runbooks/cluster-access.md says how to create it on a fresh account)."""
    return f"arn:aws:iam::{account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


def disk_key_policy(account: str) -> str:
    role = {"AWS": autoscaling_role(account)}
    return policy_json({"Version": "2012-10-17", "Statement": [
        _root(account),
        {"Sid": "AutoScalingEncryptsNodeVolumes", "Effect": "Allow", "Principal": role,
         "Action": EBS_KEY_ACTIONS, "Resource": "*"},
        {"Sid": "AutoScalingAttachesNodeVolumes", "Effect": "Allow", "Principal": role, "Action": "kms:CreateGrant",
         "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]})


def log_group_name(cluster_name: str) -> str:
    """The group EKS writes control plane logs to (it must exist before logging is on, or
    EKS creates it itself, unencrypted and kept forever)."""
    return f"/aws/eks/{cluster_name}/cluster"


def log_key_policy(account: str, region: str, cluster_name: str) -> str:
    group = f"arn:aws:logs:{region}:{account}:log-group:{log_group_name(cluster_name)}"
    return policy_json({"Version": "2012-10-17", "Statement": [
        _root(account),
        {"Sid": "CloudWatchLogsEncryptsTheControlPlaneLogs", "Effect": "Allow",
         "Principal": {"Service": f"logs.{region}.amazonaws.com"},
         "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
         "Resource": "*", "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group}}},
    ]})


def ebs_csi_key_policy(key_arn: str) -> str:
    """What the EBS CSI controller needs of the disks key to create encrypted volumes and
    let EC2 attach them (grants only for AWS resources)."""
    return policy_json({"Version": "2012-10-17", "Statement": [
        {"Sid": "EncryptVolumes", "Effect": "Allow", "Action": EBS_KEY_ACTIONS, "Resource": key_arn},
        {"Sid": "GrantToEc2", "Effect": "Allow", "Action": GRANT_ACTIONS, "Resource": key_arn,
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]})
