"""manage.py audit_keygen --out DIR: a new Ed25519 key pair for signing the seals.

`DIR/audit-signing.key` (mode 0600) goes to the sealing worker only (AUDIT_SIGNING_KEY_FILE);
`DIR/audit-signing.pub.pem` goes to every verifier (AUDIT_PUBLIC_KEY_FILE, the external auditor). On a
rotation keep the old public key in AUDIT_PUBLIC_KEYS_DIR so that older seals stay verifiable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.signing import write_key_pair


class Command(BaseCommand):
    help = "Generate an Ed25519 key pair for signing the audit seals."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--name", default="audit-signing")

    def handle(self, *args: Any, out: Path, name: str, **options: Any) -> None:
        try:
            private_path, public_path, key_id = write_key_pair(out, name=name)
        except FileExistsError as error:
            raise CommandError(f"refusing to overwrite an existing key: {error.filename}") from None
        self.stdout.write(f"key id {key_id}")
        self.stdout.write(f"private key (sealing worker only): {private_path}")
        self.stdout.write(f"public key: {public_path}")
