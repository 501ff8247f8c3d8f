// Posts the tfplat desired-state diff of each stack on the pull request: one comment per
// stack, found again by its marker line `<!-- tfplat-diff:<stack> -->` and updated in place.
//
// Runs in .github/workflows/pr-comment.yml (a `workflow_run` job with `pull-requests: write`)
// through actions/github-script. Its input is the artifact the `pull_request` run uploaded,
// which was produced by code from the pull request, possibly a fork: every byte of it is
// untrusted. So this script
//   - accepts only files named <stack>.md (stack: lowercase letters, digits, '-') whose first
//     line is exactly that stack's marker, and posts their text as a comment, nothing else;
//   - takes the pull request number from the artifact but posts only if that pull request's
//     head commit is the commit the triggering run built (a run cannot aim at another PR);
//   - edits only comments written by this workflow's own bot account.
// Tested by tests/delivery/test_pr_comment_script.py (node, with a fake GitHub client).
'use strict';

const fs = require('fs');
const path = require('path');

const STACK_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
// GitHub refuses comment bodies over 65536 characters; keep room for the note below.
const MAX_BODY = 65000;
const BOT_LOGIN = 'github-actions[bot]';

function marker(stack) {
  return `<!-- tfplat-diff:${stack} -->`;
}

function firstLine(text) {
  return (text || '').split('\n', 1)[0].trim();
}

// {prNumber, diffs: [{stack, body}], rejected: [reason]} from the downloaded artifact folder.
function readDiffs(dir) {
  const out = { prNumber: null, diffs: [], rejected: [] };
  if (!dir || !fs.existsSync(dir)) {
    return out;
  }
  const numberFile = path.join(dir, 'pr-number');
  if (fs.existsSync(numberFile)) {
    const text = fs.readFileSync(numberFile, 'utf8').trim();
    if (/^[1-9][0-9]{0,9}$/.test(text)) {
      out.prNumber = Number(text);
    } else {
      out.rejected.push('pr-number: not a pull request number');
    }
  }
  for (const name of fs.readdirSync(dir).sort()) {
    if (name === 'pr-number') {
      continue;
    }
    const stack = name.endsWith('.md') ? name.slice(0, -3) : '';
    const file = path.join(dir, name);
    if (!STACK_RE.test(stack) || !fs.lstatSync(file).isFile()) {
      out.rejected.push(`${name}: not a <stack>.md file`);
      continue;
    }
    let body = fs.readFileSync(file, 'utf8');
    if (firstLine(body) !== marker(stack)) {
      out.rejected.push(`${name}: does not start with ${marker(stack)}`);
      continue;
    }
    if (body.length > MAX_BODY) {
      body = body.slice(0, MAX_BODY) +
        `\n\n_(truncated: the full diff is in the workflow artifact tfplat-diff-${stack})_\n`;
    }
    out.diffs.push({ stack, body });
  }
  out.diffs.sort((a, b) => (a.stack < b.stack ? -1 : a.stack > b.stack ? 1 : 0));  // by stack, not file name
  return out;
}

async function postDiffComments({ github, context, core, dir, botLogin = BOT_LOGIN }) {
  const result = { created: [], updated: [], unchanged: [], rejected: [] };
  const { prNumber, diffs, rejected } = readDiffs(dir);
  result.rejected = rejected;
  for (const reason of rejected) {
    core.warning(`ignored in the diff artifact: ${reason}`);
  }
  if (diffs.length === 0) {
    core.info('no stack diffs in the artifact (the plan job failed before writing them?); nothing to post');
    return result;
  }
  if (prNumber === null) {
    core.setFailed('the diff artifact has no valid pr-number file; nothing posted');
    return result;
  }

  const { owner, repo } = context.repo;
  const run = context.payload.workflow_run;
  const { data: pr } = await github.rest.pulls.get({ owner, repo, pull_number: prNumber });
  if (!run || pr.head.sha !== run.head_sha) {
    // Either a newer push superseded this run (its own run will comment), or the artifact
    // names a pull request this run did not build. Post nothing in both cases.
    core.warning(`pull request #${prNumber} is at ${pr.head.sha}, this run built ` +
      `${run ? run.head_sha : 'nothing'}; not commenting`);
    return result;
  }

  const comments = await github.paginate(github.rest.issues.listComments, {
    owner, repo, issue_number: prNumber, per_page: 100,
  });
  for (const { stack, body } of diffs) {
    const previous = comments.find((c) => c.user && c.user.login === botLogin &&
      firstLine(c.body) === marker(stack));
    if (!previous) {
      await github.rest.issues.createComment({ owner, repo, issue_number: prNumber, body });
      result.created.push(stack);
    } else if (previous.body === body) {
      result.unchanged.push(stack);
    } else {
      await github.rest.issues.updateComment({ owner, repo, comment_id: previous.id, body });
      result.updated.push(stack);
    }
  }
  core.info(`stack diff comments on #${prNumber}: created ${result.created.join(', ') || '-'}; ` +
    `updated ${result.updated.join(', ') || '-'}; unchanged ${result.unchanged.join(', ') || '-'}`);
  return result;
}

module.exports = postDiffComments;
module.exports.readDiffs = readDiffs;
module.exports.marker = marker;
