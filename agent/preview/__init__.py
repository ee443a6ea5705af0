"""Plan previews of pull / merge requests: what a proposed commit would change on the live
hosts, and what it changes compared with the commit it was branched from.

A preview runs the engine in plan mode only (facts are read, nothing is changed) and is no
run of a deployment: it has no run row, no ChangeReport in the outbox, no metric of a run.
`pullinfra preview` (cli.py) and the agent's `[preview]` (service.py) share the same parts:

- repository: the git questions a preview asks (exports, merge base, diff --stat)
- plan: one revision's plan against its own inventory and deploys
- compare: the head's plan against the base's, per host and operation (pure)
- render: the comment, the console text and the status line (pure)
- forges: commit statuses, the one comment, pull-request lookups on GitHub, GitLab, Gitea
- service: the agent's side: discovery, fork refusal, once per head, posting
"""
