#!/usr/bin/env python3
"""The parts of hush-relay(8) that --help does not give, generated from docs/configuration.md
for help2man (--include): each option's default and full effect, the subcommands, the files
the package installs. Usage: man-include.py docs/configuration.md > hush-relay.h2m"""
import re
import sys

text = open(sys.argv[1]).read()


def roff(s):
    s = s.replace("\\", "\\e")
    s = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", s)  # links: their text
    s = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", s)
    s = re.sub(r"\*([^*]+)\*", r"\\fI\1\\fR", s)
    return "\n".join(("\\&" + line if line.startswith((".", "'")) else line) for line in s.split("\n"))


def rows(block):
    for line in block.split("\n"):
        m = re.match(r"\| `([^`]+)` \| (.*?) \| (.*) \|$", line)
        if m:
            yield m.groups()


out = ["[NAME]", "hush-relay \\- a TURN/STUN media relay built for privacy", "",
       "[DESCRIPTION]",
       "hush-relay relays the media of calls (RFC 8656 TURN, RFC 8489 STUN) without holding their keys, "
       "writes nothing about calls to disk, and keeps client addresses out of its logs and metrics. "
       "Options come from the command line or from a TOML file given with \\fB--config\\fR, whose keys "
       "are the long option names.", "",
       "[OPTIONS IN DETAIL]"]
sections = re.split(r"\n(?=Subcommand `)", text)
for row in rows(sections[0]):
    option, default, effect = row
    out += [".TP", "\\fB" + roff(option).replace("\\fB", "").replace("\\fR", "") + "\\fR",
            "Default: " + roff(default) + ". " + roff(effect)]
for sub in sections[1:]:
    name = re.match(r"Subcommand `([^`]+)`", sub).group(1)
    intro = sub.split("\n\n")[0]
    out += ["", "[SUBCOMMAND " + name.split()[0].upper() + "]", roff(re.sub(r"^Subcommand `[^`]+`:?\s*", "", intro))]
    for option, default, effect in rows(sub):
        out += [".TP", "\\fB" + option + "\\fR", "Default: " + roff(default) + ". " + roff(effect)]
out += ["", "[FILES]",
        ".TP", "\\fI/etc/hush/hush-relay.conf\\fR", "The configuration the systemd unit starts the relay with.",
        ".TP", "\\fI/etc/hush/secret\\fR", "REST shared secrets, one per line; made at installation.",
        ".TP", "\\fI/lib/systemd/system/hush-relay.service\\fR", "The hardened unit (runs as user hush).",
        "", "[SEE ALSO]", "\\fBhush-probe\\fR(1), \\fBturnserver\\fR(1); /usr/share/doc/hush-relay/"]
print("\n".join(out))
