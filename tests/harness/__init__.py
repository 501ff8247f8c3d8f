"""A real Prometheus scraping stand-in exporters that behave like the pinned ones.

Shared by the alert tests (tests/monitoring/test_alerts_live.py), the release analysis and
the scaling triggers. The small interface:

- `Cluster` (cluster.py): models, colors, pods and their lifecycle on a scaled clock;
  renders what kube-state-metrics reports with the collectors and label allowlist the
  rendered kube-prometheus-stack chart configures (ksm_config.py).
- `TFServingPod` behaviour (tfserving.py): TF Serving's Prometheus page, absent until the
  model loads and gone when the process exits; traffic, errors and latency per color.
- Traffic over time (traffic.py): what each color receives as a function of sim time
  (`set_traffic` from its moment on, or a release script); the exporters integrate it
  between scrapes, so a count never depends on when a scrape lands.
- DCGM (per GPU, with the consuming pod) and the GKE TPU plugin (accelerators.py).
- `Harness` (harness.py): starts the HTTP targets and a real `prometheus` server with the
  rendered rule groups, time-scaled mechanically (timescale.py), and answers queries.
- Releases (release.py): the cluster follows what `tfplat release`'s offline applier
  records, scenario scripts make a version bad at a chosen step, a stand-in search frontend
  exports business metrics, and the release's clock and queries run on the harness scale.
"""
