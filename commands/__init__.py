"""The `cablewatch` command's groups, one module each (cli.py assembles them): each command
parses its arguments, calls into its layer and prints; the work happens elsewhere.

- ``probes``: ping, tcp, http, dns, probe, trace, ttft (spot checks);
- ``topology``: topology show, config check;
- ``lab``: the network lab;
- ``agent``: agent, spool report;
- ``db``: db init;
- ``evaluator``: evaluate, serve, sla status, report, rules generate;
- ``dashboards``: build, preview, publish;
- ``reflector``: reflect (a STAMP reflector);
- ``common``: the consoles, options and error handling they share.
"""
