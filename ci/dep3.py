#!/usr/bin/env python3
"""Turn git format-patch files into Debian quilt patches with DEP-3 headers.

    ci/dep3.py OUTDIR PATCH...

Each PATCH (a commit of a series: mail headers, message, '---', diff)
becomes OUTDIR/<same name> with a DEP-3 header (Description, Author,
Origin, Forwarded, Applied-Upstream, Bug..., Last-Update) and the same diff;
OUTDIR/series lists them in the given order. The DEP-3 fields come from
trailer-like lines of the commit message ("Origin: ...", "Forwarded: ..."),
which git am keeps in the commit; the rest of the message becomes the long
description, Signed-off-by lines included. A patch without Origin or
Forwarded is an error: Debian's lintian and the series' own rules want both.
"""
import email.utils
import os
import re
import sys
from email.header import decode_header, make_header

DEP3_FIELDS = ('Origin', 'Forwarded', 'Applied-Upstream', 'Bug', 'Bug-Debian',
               'Reviewed-by', 'Acked-by')


def convert(path):
    text = open(path, encoding='utf-8').read()
    head, sep, rest = text.partition('\n\n')
    if not sep:
        raise SystemExit(f'{path}: no mail header')
    headers = {}
    last = None
    for line in head.splitlines()[1:]:  # skip the "From <sha> <date>" line
        if line[:1] in (' ', '\t') and last:
            headers[last] += ' ' + line.strip()
            continue
        key, _, value = line.partition(':')
        last = key.strip()
        headers[last] = value.strip()
    subject = re.sub(r'^\[PATCH[^]]*\]\s*', '',
                     str(make_header(decode_header(headers.get('Subject', '')))))
    author = str(make_header(decode_header(headers.get('From', ''))))
    date = email.utils.parsedate_to_datetime(headers['Date']).strftime('%Y-%m-%d')
    # The message ends at the first line that is '---' (before the diffstat).
    msg, sep, diff = rest.partition('\n---\n')
    if not sep:
        raise SystemExit(f'{path}: no "---" line after the commit message')
    fields, body = [], []
    for line in msg.rstrip('\n').splitlines():
        key = line.split(':', 1)[0]
        if key in DEP3_FIELDS and ':' in line:
            fields.append(line.strip())
        else:
            body.append(line)
    keys = [f.split(':', 1)[0] for f in fields]
    for need in ('Origin', 'Forwarded'):
        if need not in keys:
            raise SystemExit(f'{path}: no {need}: line in the commit message')
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    out = [f'Description: {subject}']
    out += [' ' + l if l.strip() else ' .' for l in body]
    out.append(f'Author: {author}')
    out += fields
    out.append(f'Last-Update: {date}')
    return '\n'.join(out) + '\n---\n' + diff


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    names = []
    for path in sys.argv[2:]:
        name = os.path.basename(path)
        with open(os.path.join(outdir, name), 'w', encoding='utf-8') as f:
            f.write(convert(path))
        names.append(name)
    with open(os.path.join(outdir, 'series'), 'w') as f:
        f.write(''.join(n + '\n' for n in names))


main()
