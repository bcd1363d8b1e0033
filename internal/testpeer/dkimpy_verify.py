# Independent check of a message's DKIM signatures and ARC chain with
# dkimpy (Debian's python3-dkim). Usage: verify.py KEYS.json < message
# KEYS.json maps "selector._domainkey.domain." to the TXT record. It
# prints "dkim=pass|fail arc=pass|fail|none" and the reasons.
import json
import sys

import dkim

keys = json.load(open(sys.argv[1]))


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    if not name.endswith("."):
        name += "."
    v = keys.get(name)
    return v.encode() if v is not None else None


msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
ok = True
n = 0
for i, (k, _) in enumerate(d.headers):
    if k.lower() == b"dkim-signature":
        ok = ok and d.verify(idx=n, dnsfunc=dnsfunc)
        n += 1
cv, results, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc)
print("dkim=%s dkims=%d arc=%s" % ("pass" if ok and n else "fail", n, cv.decode()))
print(reason)
