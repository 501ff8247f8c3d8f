// Reads [{where, object}, ...] as JSON on stdin; writes [{where, path, message}, ...] on stdout.
// Each object is validated with the model class generated from its upstream CRD schema.
const PACKAGES = {
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "networking.gke.io": "@kubernetes-models/gke",
};
// Groups with no published schema package: validated by infra/offline/crd_validate.py
// against tools/crd-validate/schemas/<group>_<version>_<Kind>.json instead.
const LOCAL_SCHEMA_GROUPS = new Set(["gateway.k8s.aws"]);

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const items = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const problems = [];
for (const { where, object } of items) {
  const [group, version] = object.apiVersion.split("/");
  if (LOCAL_SCHEMA_GROUPS.has(group)) continue;
  const pkg = PACKAGES[group];
  if (!pkg) {
    problems.push({ where, path: "apiVersion", message: `no CRD schema known for ${object.apiVersion} ${object.kind}` });
    continue;
  }
  let Model;
  try {
    Model = (await import(`${pkg}/${group}/${version}/${object.kind}`))[object.kind];
  } catch {
    problems.push({ where, path: "kind", message: `${pkg} has no ${object.apiVersion} ${object.kind}` });
    continue;
  }
  try {
    new Model(object).validate();
  } catch (err) {
    for (const e of err.errors ?? [{ instancePath: "", message: String(err.message) }]) {
      const path = e.instancePath.replace(/^\//, "").replaceAll("/", ".");
      const extra = e.params?.missingProperty ? ` (${e.params.missingProperty})` : "";
      problems.push({ where, path, message: `${e.message}${extra}` });
    }
  }
}
process.stdout.write(JSON.stringify(problems));
