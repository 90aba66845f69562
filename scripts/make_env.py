"""Create a local .env from .env.example with fresh random secrets (used by `make run`)."""
import secrets
import sys
from pathlib import Path

example, target = Path(sys.argv[1]), Path(sys.argv[2])
lines = []
for line in example.read_text(encoding="utf-8").splitlines():
    key = line.split("=", 1)[0]
    if key in ("SECRET_KEY", "PAYMENT_SECRET"):
        line = f"{key}={secrets.token_urlsafe(48)}"
    lines.append(line)
target.write_text("\n".join(lines) + "\n", encoding="utf-8")
target.chmod(0o600)
print(f"wrote {target} with fresh SECRET_KEY and PAYMENT_SECRET")
