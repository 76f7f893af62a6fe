#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Parses a metrics exposition from stdin with prometheus_client's own
parsers - independent of the daemon's code - and prints one line per family
("family NAME TYPE") and per sample ("sample NAME{k="v",...} VALUE", labels
sorted). --openmetrics uses the strict OpenMetrics 1.0 parser (it rejects a
body without "# EOF", a counter sample without _total, ...), else the
Prometheus text 0.0.4 parser. Exit 1 with the parser's error on bad input."""
import sys

from prometheus_client.openmetrics import parser as om_parser
from prometheus_client import parser as prom_parser


def main():
    om = "--openmetrics" in sys.argv[1:]
    text = sys.stdin.read()
    parse = om_parser.text_string_to_metric_families if om else prom_parser.text_string_to_metric_families
    try:
        fams = list(parse(text))
    except ValueError as e:
        print("parse error: %s" % e)
        return 1
    for f in fams:
        print("family %s %s" % (f.name, f.type))
        for s in f.samples:
            labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
            print("sample %s{%s} %g" % (s.name, labels, s.value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
