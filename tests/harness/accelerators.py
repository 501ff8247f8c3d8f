"""DCGM exporter (4.5.2-4.8.1) and GKE TPU device plugin pages for the stand-in cluster.

DCGM: one exporter per GPU node; one series per GPU and counter of the chart's
default-counters.csv, labelled as its GPU template renders them (gpu, UUID, pci_bus_id,
device, modelName, Hostname, the DCGM_FI_DRIVER_VERSION label counter) plus pod, namespace
and container of the pod the kubelet gave the GPU to (its Kubernetes pod mapper). A GPU no
pod holds carries no pod labels.
TPU plugin: duty_cycle, memory_used, memory_total with make, model, tpu_topology,
accelerator_id and the consuming pod. UNVERIFIED: no first-party GKE documentation of this
endpoint was found; these follow third-party consumers (docs/observability.md).
"""

from __future__ import annotations

from collections.abc import Callable

from tests.harness.cluster import Cluster, Pod
from tests.harness.exposition import Page

# (model, color) -> percent busy now
Utilization = Callable[[str, str], float]
GPU_MEMORY_MIB = 23034  # NVIDIA L4
TPU_HBM_BYTES = 16 * 2**30  # v5e chip


def dcgm_page(cluster: Cluster, node: str, util: Utilization) -> str | None:
    t = cluster.clock.now()
    with cluster.lock:
        pods = [p for p in cluster.pods(t) if p.node == node]
    page = Page()
    gpu = {"gpu": "0", "UUID": f"GPU-{node}", "pci_bus_id": "00000000:00:04.0", "device": "nvidia0",
           "modelName": "NVIDIA L4", "Hostname": node, "DCGM_FI_DRIVER_VERSION": "550.90.07"}
    owner = {"container": "tensorflow-serving", "namespace": pods[0].namespace, "pod": pods[0].name} if pods else {}
    busy = _busy(pods[0], t, util) if pods else 0.0
    used = GPU_MEMORY_MIB * 0.6 if pods else 0.0
    for name, help_text, value in (
            ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", 2040 if busy else 210),
            ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", 40 + busy / 3),
            ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", 16 + busy * 0.56),
            ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", round(busy)),
            ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", round(GPU_MEMORY_MIB - used)),
            ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", round(used))):
        page.family(name, "gauge", [({**gpu, **owner}, value)], help_text)
    return page.text()


def tpu_page(cluster: Cluster, node: str, util: Utilization) -> str | None:
    t = cluster.clock.now()
    with cluster.lock:
        pods = [p for p in cluster.pods(t) if p.node == node]
    if not pods:
        return Page().text()
    pod = pods[0]
    chip = {"make": "cloud-tpu", "model": "tpu-v5-lite-podslice", "tpu_topology": "1x1", "accelerator_id": "0",
            "namespace": pod.namespace, "pod": pod.name, "container": "tensorflow-serving"}
    page = Page()
    page.family("duty_cycle", "gauge", [(chip, round(_busy(pod, t, util)))])
    page.family("memory_used", "gauge", [(chip, int(TPU_HBM_BYTES * 0.5))])
    page.family("memory_total", "gauge", [(chip, TPU_HBM_BYTES)])
    return page.text()


def _busy(pod: Pod, t: float, util: Utilization) -> float:
    # A pod that is still loading keeps its accelerator idle.
    return util(pod.model, pod.color) if pod.status(t).serving_since is not None else 0.0
