"""The real engines tfplat hands its output to, run offline: Helm, CRD schemas with their CEL
rules, and checkov.

Small interface, used by the offline plan and by anything that installs a chart:

    archive = ChartStore.from_env().archive(pin)                 # chartstore: cache, mirror, helm pull
    objects = helm.render(helm.ReleaseInput(...), archive)       # helm: `helm template`, split
    catalog = crds.CrdCatalog.from_objects(objects)              # crds: CRDs -> validators
    problems = catalog.validate(custom_objects)                  # OpenAPI schema + CEL rules
    report = scan.scan(named_objects)                            # scan: checkov + waivers

docs/charts.md describes the chart cache, the mirror and the waivers.
"""
