#!/usr/bin/env python3
"""Lists the error and warning messages of xl devd's code, one per line,
as the longest fixed fragment of each format string (format directives cut
it).  With --check GUIDE, exits 1 naming every message the guide lacks."""
import re
import sys

CALL = re.compile(r'\b(?:LOGD?|LOGED?|DLOG|VLOG|TLOG)\s*\(\s*(?:ERROR|WARN)\b'
                  r'|\bfprintf\s*\(\s*stderr\s*,|\bperror\s*\(')
LIT = re.compile(r'"((?:[^"\\]|\\.)*)"')
DIRECTIVE = re.compile(r'%[-+ #0]*[0-9*]*(?:\.[0-9*]+)?(?:hh|h|ll|l|z|j|t)?[a-zA-Z%]')


FAIL_CALL = re.compile(r'\b(?:libxl__devd_fail|libxl__devd_vbd3_failed'
                       r'|vbd3_open_fail|vbd3_op_fail|tdc_error'
                       r'|libxl__devd_vbd3_disconnect)\s*\(')
# tapdisk and td-ctl: every line of their log and every reason they give.
TD_CALL = re.compile(r'\b(?:logm|ILOG)\s*\(|\bfprintf\s*\(\s*stderr\s*,'
                     r'|\bsnprintf\s*\(\s*why\s*,|\bsend_error\s*\(')


def fmt_fragment(fmt):
    fmt = fmt.replace('\\n', ' ').replace('\\"', '"')
    return max((f.strip(' :') for f in DIRECTIVE.split(fmt)), key=len)


def messages(path):
    text = open(path, encoding='utf-8').read()
    call = TD_CALL if '/tapdisk/' in path else CALL
    for m in call.finditer(text):
        # the format: the first run of adjacent string literals
        lit = LIT.search(text, m.end())
        if not lit or lit.start() > text.find(';', m.end()):
            continue
        parts = [lit.group(1)]
        pos = lit.end()
        while True:
            nxt = re.compile(r'\s*"((?:[^"\\]|\\.)*)"').match(text, pos)
            if not nxt:
                break
            parts.append(nxt.group(1))
            pos = nxt.end()
        best = fmt_fragment(''.join(parts))
        if len(best) >= 6 and not best.startswith('usage:'):
            yield path, best
    for m in FAIL_CALL.finditer(text):
        # every reason a device can fail with is its own message
        end = text.find(';', m.end())
        for lit in LIT.findall(text[m.end():end]):
            best = fmt_fragment(lit)
            if len(best) >= 6:
                yield path, best


def main(argv):
    args = argv[1:]
    guide = None
    if args[:1] == ['--check']:
        guide = open(args[1], encoding='utf-8').read()
        args = args[2:]
    found = sorted({(p, m) for f in args for p, m in messages(f)})
    missing = 0
    for path, msg in found:
        if guide is None:
            print(msg)
        elif msg not in guide:
            print(f'not in the guide: "{msg}" ({path})')
            missing += 1
    if guide is not None:
        print(f'{len(found) - missing} of {len(found)} messages are in the guide')
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
