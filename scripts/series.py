#!/usr/bin/env python3
# An upstream-form libxl series (one with a 0000-cover-letter.patch, as
# git format-patch writes it) carries our sources as new files, so that
# `git am` of it onto the release builds.  Those copies are generated
# from the one copy in this tree:
#   series.py sync  SERIES_DIR OURS...   rewrite every patch: the new-file
#                                        diffs of OURS from the tree, every
#                                        diff in git's form, the diffstat
#   series.py check SERIES_DIR OURS...   fail (naming the patch) if sync
#                                        would change anything
# OURS are paths relative to the current directory (the source tree); a
# patch carries one as tools/libs/light/<name> (libxl's) or tools/xl/<name>
# (xl's, under xl/).
import os
import re
import sys

HUNK = re.compile(r'^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@')


def split_patch(text):
    """(header lines, [(path, [diff lines])]) of a quilt or git patch."""
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    header, diffs, i = [], [], 0
    while i < len(lines):
        ln = lines[i]
        starts_git = ln.startswith('diff --git ')
        starts_plain = (ln.startswith('--- ') and i + 1 < len(lines)
                        and lines[i + 1].startswith('+++ '))
        if diffs and ln == '-- ':
            break               # git's signature ends the patch
        if not (starts_git or starts_plain):
            if diffs:
                if ln == '':
                    i += 1
                    continue
                raise ValueError('text between diffs: %r' % ln)
            header.append(ln)
            i += 1
            continue
        body = []
        if starts_git:
            i += 1
            while not lines[i].startswith('--- '):
                i += 1          # mode and index lines: regenerated
        path = lines[i + 1][4:].split('\t')[0]
        path = path[2:] if path.startswith('b/') else path
        new = lines[i].startswith('--- /dev/null')
        i += 2
        while i < len(lines):
            m = HUNK.match(lines[i])
            if not m:
                break
            old_n = int(m.group(2) if m.group(2) is not None else 1)
            new_n = int(m.group(4) if m.group(4) is not None else 1)
            body.append(lines[i])
            i += 1
            while old_n > 0 or new_n > 0:
                ln = lines[i]
                body.append(ln)
                i += 1
                if ln.startswith('\\'):
                    continue
                if ln.startswith('-'):
                    old_n -= 1
                elif ln.startswith('+'):
                    new_n -= 1
                else:
                    old_n -= 1
                    new_n -= 1
            while i < len(lines) and lines[i].startswith('\\'):
                body.append(lines[i])
                i += 1
        diffs.append((path, new, body))
    return header, diffs


def new_file_diff(path, src):
    with open(src) as f:
        content = f.read()
    if not content.endswith('\n'):
        raise ValueError('%s does not end with a newline' % src)
    body = content.split('\n')[:-1]
    return [('@@ -0,0 +1,%d @@' % len(body))] + ['+' + ln for ln in body]


def counts(body):
    plus = sum(1 for ln in body if ln.startswith('+'))
    minus = sum(1 for ln in body if ln.startswith('-'))
    return plus, minus


def diffstat(diffs):
    width = max(len(p) for p, _, _ in diffs)
    out, tp, tm = [], 0, 0
    for path, _, body in diffs:
        p, m = counts(body)
        tp, tm = tp + p, tm + m
        n = p + m
        scale = 1 if n <= 40 else n / 40.0
        bar = '+' * int(round(p / scale)) + '-' * int(round(m / scale))
        out.append(' %-*s | %4d %s' % (width, path, n, bar))
    out.append(' %d file%s changed, %d insertion%s(+), %d deletion%s(-)' % (
        len(diffs), '' if len(diffs) == 1 else 's', tp,
        '' if tp == 1 else 's', tm, '' if tm == 1 else 's'))
    return out


def render(header, diffs):
    # The header ends at git's "---" line; diffstat and diffs follow.
    if '---' in header:
        header = header[:header.index('---')]
    while header and header[-1] == '':
        header.pop()
    out = header + ['---'] + diffstat(diffs) + ['']
    for path, new, body in diffs:
        out.append('diff --git a/%s b/%s' % (path, path))
        if new:
            out += ['new file mode 100644', '--- /dev/null']
        else:
            out.append('--- a/%s' % path)
        out.append('+++ b/%s' % path)
        out += body
    out += ['-- ', 'xl-devd', '']
    return '\n'.join(out) + '\n'


def tree_path(src):
    name = os.path.basename(src)
    if src.startswith('xl/'):
        return 'tools/xl/' + name
    return 'tools/libs/light/' + name


def synced(series_dir, ours):
    by_path = {tree_path(s): s for s in ours}
    result = {}
    names = [n for n in open(os.path.join(series_dir, 'series')).read().split()
             if n and not n.startswith('#')]
    for name in names:
        path = os.path.join(series_dir, name)
        text = open(path).read()
        header, diffs = split_patch(text)
        diffs = [(p, new, new_file_diff(p, by_path[p]) if new and p in by_path
                  else body) for p, new, body in diffs]
        result[name] = (text, render(header, diffs))
    return result


def subject(text):
    m = re.search(r'(?m)^Subject: (?:\[PATCH[^\]]*\] )?(.*)$', text)
    return m.group(1) if m else None


def cover_letter_problems(series_dir):
    """The cover letter counts the patches and lists each one's subject."""
    cover = os.path.join(series_dir, '0000-cover-letter.patch')
    if not os.path.exists(cover):
        return 0
    text = open(cover).read()
    names = open(os.path.join(series_dir, 'series')).read().split()
    bad = 0
    if not re.search(r'(?m)^Subject: \[PATCH 0/%d\] ' % len(names), text):
        print('series.py: the cover letter\'s subject is not [PATCH 0/%d]'
              % len(names))
        bad += 1
    for i, name in enumerate(names, 1):
        patch = open(os.path.join(series_dir, name)).read()
        if not re.search(r'(?m)^Subject: \[PATCH %d/%d\] ' % (i, len(names)),
                         patch):
            print('series.py: %s is not numbered [PATCH %d/%d]'
                  % (name, i, len(names)))
            bad += 1
        if '  ' + subject(patch) + '\n' not in text:
            print('series.py: the cover letter does not list %s' % name)
            bad += 1
    return bad


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ('sync', 'check'):
        sys.exit('usage: series.py sync|check SERIES_DIR OURS...')
    cmd, series_dir, ours = sys.argv[1], sys.argv[2], sys.argv[3:]
    bad = cover_letter_problems(series_dir)
    for name, (old, new) in synced(series_dir, ours).items():
        if old == new:
            continue
        if cmd == 'sync':
            with open(os.path.join(series_dir, name), 'w') as f:
                f.write(new)
            print('series.py: rewrote %s' % name)
        else:
            print('series.py: %s is not in step with the tree '
                  '(make refresh-patches)' % name)
            bad += 1
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
