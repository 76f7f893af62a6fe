#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The README's walk-thru blocks from a walkthru.sh transcript (readme-output.sh).

  readme_blocks.py --write|--check TRANSCRIPT README

The transcript is walkthru.sh's output without colours, its first line
"# readme-output: netns=NAME socket=PATH" naming the run's netns and socket
(shown as the README's ns2 and /tmp/zt.sock). Each README block between
<!-- walkthru:NAME --> and <!-- /walkthru --> is built from BLOCKS[NAME]:
literal lines, {PID} (the daemon's PID), and directives:

  @OUT N PREFIX   the output of the Nth command echoed as "$ PREFIX..."
  @OK N PREFIX    its check lines only (verify.sh: "ok ...", "# all ...")
  @START          the daemon's log up to its "listening on" line, without the
                  lines that depend on the machine (open-file limit,
                  capabilities kept)
  @AFTER          the daemon's log after that line (at the end of step 6)

--write rewrites the blocks; --check exits 1 with a diff when a block differs
from the run once timestamps and PIDs are normalised.
"""
import difflib
import re
import sys

NETNS, SOCK = "ns2", "/tmp/zt.sock"
ZT = "./ztunnel-emulator/ztunnel-emulator"
CNI = "./cni-emulator/cni-emulator"

BLOCKS = {
    "netns": f"""```bash
#> ip netns add {NETNS}

#> ip -n {NETNS} link set lo up

#> ip -n {NETNS} link show
@OUT 1 ip -n {NETNS} link show
```""",
    "daemon": f"""```bash
#> {ZT} --log-format legacy {SOCK} &
@OUT 1 {ZT}

$> ps -o pid,cmd -p {{PID}}
@OUT 1 ps -o pid,cmd -p
```""",
    "daemon-log": """```
@START
```""",
    "handoff": f"""```bash
#> ip netns exec {NETNS} ss -ntlp
@OUT 1 ip netns exec {NETNS} ss -ntlp

#> {CNI} {SOCK} /var/run/netns/{NETNS}
@OUT 1 {CNI} {SOCK} /var/run/netns/{NETNS}

#> ip netns exec {NETNS} ss -ntlp
@OUT 2 ip netns exec {NETNS} ss -ntlp
```""",
    "handoff-log": """```
@AFTER
```""",
    "nc": f"""```bash
#> ip netns exec {NETNS} bash

root$ nc -v -z localhost 15008
@OUT 1 ip netns exec {NETNS} nc -v -z localhost 15008

root$ nc -v -z localhost 15006
@OUT 1 ip netns exec {NETNS} nc -v -z localhost 15006

root$ nc -v -z localhost 15001
@OUT 1 ip netns exec {NETNS} nc -v -z localhost 15001

root$ nc -v -z localhost 15002
@OUT 1 ip netns exec {NETNS} nc -v -z localhost 15002
```""",
    "verify": f"""```
@OK 1 scripts/verify.sh {NETNS}
```""",
    "delete": f"""```bash
#> {CNI} del {SOCK} {NETNS}
@OUT 1 {CNI} del {SOCK} {NETNS}

#> ip netns exec {NETNS} ss -ntlp
@OUT 3 ip netns exec {NETNS} ss -ntlp

#> scripts/verify.sh --absent {NETNS}      # no listener, every port refused
@OK 1 scripts/verify.sh --absent {NETNS}
```""",
    "delete-log": """```
@OUT 1 grep 'draining proxy'
```""",
    "cleanup": f"""```bash
#> ip netns delete {NETNS}
#> kill {{PID}}          # the daemon's PID: SIGTERM closes everything, removes the socket, exits 0
```""",
}

ANSI = re.compile(r"\x1b\[[0-9;]*m")
VERIFY_END = re.compile(r"^# (all \d+ checks passed|\d+ of \d+ checks FAILED)")
# the order the walk-thru's daemon binds the listeners in
BIND_ORDER = ["15008", "15006", "15001"]


def die(msg):
    sys.stderr.write(f"readme_blocks.py: {msg}\n")
    sys.exit(1)


def read_transcript(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    m = re.match(r"# readme-output: netns=(\S+) socket=(\S+)$", lines[0] if lines else "")
    if not m:
        die(f"{path}: no '# readme-output: netns=... socket=...' first line")
    netns, sock = m.groups()
    out = []
    for line in lines[1:]:
        line = ANSI.sub("", line).replace(sock, SOCK)
        line = re.sub(r"(?<![\w-])" + re.escape(netns) + r"(?![\w-])", NETNS, line)
        out.append(line.rstrip())
    return out


def sections(lines):
    """[(command, [output lines])] for every "$ command" the walk-thru echoed."""
    secs, cur, in_verify = [], None, False
    for line in lines:
        if in_verify:
            cur[1].append(line)
            in_verify = not VERIFY_END.match(line)
            continue
        if line.startswith("$ "):
            cur = (line[2:], [])
            secs.append(cur)
            in_verify = cur[0].startswith("scripts/verify.sh")
        elif cur is not None and (line.startswith("# ") or line.startswith("===")
                                  or line.startswith("ok   - ") or line.startswith("FAIL - ")):
            cur = None
        elif cur is not None:
            cur[1].append(line)
    result = []
    for cmd, out in secs:
        while out and not out[-1]:
            out.pop()
        if cmd.endswith("ss -ntlp"):
            out = order_listeners(out)
        result.append((cmd, out))
    return result


def order_listeners(out):
    """ss's LISTEN lines in bind order (ss walks a hash salted per netns)."""
    def port(line):
        m = re.search(r":(\d+)\s", line)
        return BIND_ORDER.index(m.group(1)) if m and m.group(1) in BIND_ORDER else len(BIND_ORDER)
    idx = [i for i, line in enumerate(out) if line.startswith("LISTEN")]
    ordered = sorted((out[i] for i in idx), key=port)
    out = list(out)
    for i, line in zip(idx, ordered):
        out[i] = line
    return out


def find(secs, n, prefix):
    hits = [out for cmd, out in secs if cmd.startswith(prefix)]
    if len(hits) < n:
        die(f"the transcript has {len(hits)} command(s) '{prefix}...', the block wants #{n}")
    return hits[n - 1]


def daemon_log(secs):
    log = find(secs, 1, "cat ")
    cut = next((i for i, line in enumerate(log) if " listening on " in line), None)
    if cut is None:
        die("the daemon's log has no 'listening on' line")
    start = [line for line in log[:cut + 1]
             if "open-file limit" not in line and "capabilities kept" not in line]
    return start, log[cut + 1:]


def daemon_pid(secs):
    for line in find(secs, 1, ZT):
        m = re.match(r"\[1\] (\d+)$", line)
        if m:
            return m.group(1)
    die("no '[1] PID' line after the daemon's start")


def build(name, secs):
    start, after = daemon_log(secs)
    pid = daemon_pid(secs)
    out = []
    for line in BLOCKS[name].split("\n"):
        m = re.match(r"@(OUT|OK) (\d+) (.*)$", line)
        if m:
            got = find(secs, int(m.group(2)), m.group(3))
            if m.group(1) == "OK":
                got = [x for x in got if x.startswith(("ok ", "not ok ", "FAIL")) or VERIFY_END.match(x)]
            out.extend(got)
        elif line == "@START":
            out.extend(start)
        elif line == "@AFTER":
            out.extend(after)
        else:
            out.append(line.replace("{PID}", pid))
    return "\n".join(out) + "\n"


MARK = re.compile(r"^<!-- walkthru:([\w-]+) -->\n(.*?)^<!-- /walkthru -->\n", re.M | re.S)

VOLATILE = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"), "TIMESTAMP"),
    (re.compile(r"pid=\d+"), "pid=PID"),
    (re.compile(r"\(pid \d+\)"), "(pid PID)"),
    (re.compile(r"^\[1\] \d+$", re.M), "[1] PID"),
    (re.compile(r"-p \d+$", re.M), "-p PID"),
    (re.compile(r"kill \d+"), "kill PID"),
    (re.compile(r"^ *PID CMD$", re.M), "PID CMD"),
    (re.compile(r"^ *\d+ (\./)", re.M), r"PID \1"),
]


def normalise(text):
    for rx, rep in VOLATILE:
        text = rx.sub(rep, text)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("--write", "--check"):
        sys.stderr.write(__doc__)
        sys.exit(2)
    mode, transcript, readme = sys.argv[1:]
    secs = sections(read_transcript(transcript))
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    names = [m.group(1) for m in MARK.finditer(text)]
    missing = sorted(set(BLOCKS) - set(names))
    unknown = sorted(set(names) - set(BLOCKS))
    if missing or unknown:
        die(f"{readme}: blocks without a marker: {missing or 'none'}; unknown markers: {unknown or 'none'}")
    if mode == "--write":
        new = MARK.sub(lambda m: f"<!-- walkthru:{m.group(1)} -->\n{build(m.group(1), secs)}<!-- /walkthru -->\n", text)
        if new != text:
            with open(readme, "w", encoding="utf-8") as f:
                f.write(new)
        print(f"{readme}: {len(names)} walk-thru blocks {'rewritten' if new != text else 'already current'}")
        return
    bad = 0
    for m in MARK.finditer(text):
        have, want = normalise(m.group(2)), normalise(build(m.group(1), secs))
        if have != want:
            bad += 1
            sys.stdout.writelines(difflib.unified_diff(
                have.splitlines(True), want.splitlines(True),
                f"README {m.group(1)}", f"fresh run {m.group(1)}"))
            sys.stdout.write("\n")
    if bad:
        print(f"{bad} of {len(names)} walk-thru blocks differ from the run (scripts/readme-output.sh rewrites them)")
        sys.exit(1)
    print(f"all {len(names)} walk-thru blocks match the run")


if __name__ == "__main__":
    main()
