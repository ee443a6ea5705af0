"""A preview as people read it: the pull-request comment (Markdown), the console text of
`pullinfra preview`, and the one-line commit status. Pure functions of a `Preview`.

The comment carries a hidden marker naming the deployment, so the agent (and a person) can
tell its comment from others; forges cap a comment's size, so long diffs are cut, saying so.
"""

from __future__ import annotations

from agent.preview.compare import OpDelta, OpPlan, Preview

MARKER = "<!-- pullinfra-preview:{deployment} -->"
MAX_COMMENT = 60_000  # GitHub takes 65536 characters, GitLab a million
MAX_DIFF = 4_000
MAX_STATUS = 140  # GitHub's limit for a status description


def marker(deployment: str | None) -> str:
    return MARKER.format(deployment=deployment or "-")


def status_line(preview: Preview) -> str:
    """The commit status's description: how many hosts would change, and failures."""
    if preview.head_error is not None:
        return "preview failed: the head's inventory or deploy did not load"[:MAX_STATUS]
    n = len(preview.changing)
    text = f"{n} host{'' if n == 1 else 's'} would change"
    if preview.failing:
        text += f", {len(preview.failing)} failed"
    return f"{text} (of {len(preview.hosts)})"[:MAX_STATUS]


def _state(op: OpPlan | None) -> str:
    return op.status if op is not None else "not planned"


def _delta_line(delta: OpDelta) -> str:
    base, head = _state(delta.base), _state(delta.head)
    if base == head:
        return f"- `{delta.name}`: {head} in both, with another diff"
    return f"- `{delta.name}`: {base} at the base, {head} at the head"


def _fence(text: str, language: str = "diff") -> str:
    if len(text) > MAX_DIFF:
        text = text[:MAX_DIFF] + "\n... (cut: the diff is longer)"
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def comment(preview: Preview) -> str:
    """The Markdown body of the pull request's one preview comment."""
    p = preview
    lines = [marker(p.deployment),
             f"### pullinfra preview: `{p.head[:12]}`"
             + (f" (deployment `{p.deployment}`)" if p.deployment else ""),
             "",
             f"Plan of the head `{p.head[:12]}` against the live hosts, compared with the base "
             f"`{p.base[:12]}`. Nothing was changed on any host.",
             ""]
    if p.head_error is not None:
        lines += ["**The head's plan failed before reaching the hosts:**", "",
                  _fence(p.head_error, "text"), ""]
    else:
        lines += [f"**{status_line(p)}.**", ""]
    lines += ["<details><summary>Files changed (base..head)</summary>", "",
              _fence(p.files_changed or "(no files changed)", "text"), "", "</details>", ""]
    for host in p.hosts:
        if not (host.changes or host.failures or host.error):
            continue
        lines += [f"#### {host.name}: {host.status}", ""]
        if host.error:
            lines += [_fence(host.error, "text"), ""]
        for op in (*host.changes, *host.failures):
            lines.append(f"- `{op.name}`: {op.status}")
            if op.diff:
                lines += ["", _fence(op.diff), ""]
        lines.append("")
    unchanged = [h.name for h in p.hosts if not (h.changes or h.failures or h.error)]
    if unchanged:
        lines += [f"No change on: {', '.join(unchanged)}.", ""]
    lines += ["#### What the head changes compared with the base", ""]
    if p.base_error is not None:
        lines += ["The base's plan failed, so there is nothing to compare with:", "",
                  _fence(p.base_error, "text"), ""]
    elif not p.compared:
        lines += ["No operation's plan differs from the base's on any host.", ""]
    for host_name, deltas in p.compared.items():
        lines += [f"**{host_name}**", "", *(_delta_line(d) for d in deltas), ""]
    body = "\n".join(lines)
    if len(body) > MAX_COMMENT:
        body = body[:MAX_COMMENT] + "\n\n... (cut: the preview is longer than a comment may be)"
    return body


def console(preview: Preview) -> str:
    """`pullinfra preview`'s text: the same sections as the comment, without Markdown."""
    p = preview
    out = [f"Preview of {p.head[:12]} (base {p.base[:12]})"
           + (f", deployment {p.deployment}" if p.deployment else ""), ""]
    out += ["Files changed (base..head):", p.files_changed.rstrip() or "  (none)", ""]
    if p.head_error is not None:
        out += [f"The head's plan failed: {p.head_error}", ""]
    for host in p.hosts:
        out.append(f"{host.name}: {host.status}" + (f" ({host.error})" if host.error else ""))
        for op in (*host.changes, *host.failures):
            out.append(f"  {op.status}: {op.name}")
            if op.diff:
                out += [f"    {line}" for line in op.diff.rstrip().splitlines()]
    out += ["", "Compared with the base:"]
    if p.base_error is not None:
        out.append(f"  the base's plan failed: {p.base_error}")
    elif not p.compared:
        out.append("  no operation's plan differs on any host")
    for host_name, deltas in p.compared.items():
        out.append(f"  {host_name}:")
        out += [f"    {_delta_line(d)[2:].replace('`', '')}" for d in deltas]
    out += ["", status_line(p)]
    return "\n".join(out) + "\n"
