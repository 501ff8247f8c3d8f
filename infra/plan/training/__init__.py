"""Training: the platform a stack provides (Kueue, JobSet, queues, checkpoint bucket, training
identities) and the JobSet one run of a model's recipe becomes.

platform.py decides what `pulumi up` creates; kueue.py turns it into Kubernetes objects and
chart values; job.py plans and renders one run (what `tfplat train` submits).
"""
