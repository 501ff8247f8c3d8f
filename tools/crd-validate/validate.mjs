// Reads [{where, object}, ...] as JSON on stdin; writes [{where, path, message}, ...] on stdout.
// Each object is validated with the model class generated from its upstream CRD schema.
// Only for kinds no pinned chart or CRD mirror ships (infra/offline/crd_validate.py); the
// others are checked in Python against the CRDs themselves, CEL rules included.
const PACKAGES = {
  "networking.gke.io": "@kubernetes-models/gke",
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const items = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const problems = [];
for (const { where, object } of items) {
  const [group, version] = object.apiVersion.split("/");
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
