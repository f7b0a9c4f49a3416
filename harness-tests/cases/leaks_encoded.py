"""Does the job (well_behaved.py), then writes its per-run token into case-output/notes.txt in
the encoding named in argv[1], as an accidental leak would: utf-16le, utf-16be, double-percent,
html-entities (decimal and hex mixed) or base32."""
import base64, os, runpy, sys, urllib.parse

runpy.run_path(os.path.join(os.path.dirname(__file__), "well_behaved.py"))
token = os.environ["CASE_API_KEY"]
encoding = sys.argv[1]
if encoding == "utf-16le":
    leak = ("token=" + token + "\n").encode("utf-16-le")
elif encoding == "utf-16be":
    leak = b"\xfe\xff" + ("token=" + token + "\n").encode("utf-16-be")
elif encoding == "double-percent":
    # Percent-encoding of every byte, then percent-encoding of that: %2563%2568...
    once = "".join("%%%02X" % byte for byte in token.encode())
    leak = ("GET /v1/models?key=" + urllib.parse.quote(once, safe="") + "\n").encode()
elif encoding == "html-entities":
    leak = ("<p>" + "".join(("&#%d;" if i % 2 else "&#x%x;") % ord(c) for i, c in enumerate(token)) + "</p>\n").encode()
elif encoding == "base32":
    leak = base64.b32encode(("user:" + token).encode()) + b"\n"
else:
    sys.exit("unknown encoding " + encoding)
with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "notes.txt"), "wb") as notes:
    notes.write(leak)
