"""``rotatejwtkey [--algorithm ES256|RS256|EdDSA]``: a new signing key, and how to switch to it.

Prints, for the operator to put in every node's environment, the new private key as
``KEYWARD_JWT_PRIVATE_KEY`` and the ``KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS`` line that keeps the
current public key (and the previous ones still configured) verifying, so tokens signed before
the switch work until they expire. Newlines are written as ``\\n``, which Keyward reads back as
newlines, so each is one line of a ``.env`` file. Nothing is written anywhere else and nothing
is logged: the private key leaves this command on its standard output only.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from accounts.signing import (
    ASYMMETRIC_ALGORITHMS,
    SYMMETRIC_ALGORITHM,
    generate_private_key,
    key_ring,
    previous_public_keys,
    private_pem,
    public_pem,
)

NEWLINE = "\\n"  # written as the two characters: one line per setting


def _one_line(pem: str) -> str:
    return pem.strip().replace("\n", NEWLINE)


class Command(BaseCommand):
    help = "Print a new JWT signing key and the settings that rotate to it without a flag day."

    def add_arguments(self, parser):
        parser.add_argument(
            "--algorithm",
            choices=ASYMMETRIC_ALGORITHMS,
            help="the new key's algorithm (default: the current KEYWARD_JWT_ALGORITHM)",
        )

    def handle(self, *args, algorithm=None, **options):
        try:
            ring = key_ring()
            previous = previous_public_keys()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if ring.algorithm == SYMMETRIC_ALGORITHM:
            raise CommandError(
                "KEYWARD_JWT_ALGORITHM is HS256: there is no public key to keep. Set "
                "KEYWARD_JWT_ALGORITHM=ES256 and run this again (every HS256 token then ends)."
            )
        algorithm = algorithm or ring.algorithm
        new_key = generate_private_key(algorithm)
        kept = [public_pem(ring.signing_key.public_key())]
        kept += [pem for pem in map(public_pem, previous) if pem not in kept]
        longest = max(
            int(settings.KEYWARD_ACCESS_TOKEN_LIFETIME),
            int(settings.KEYWARD_REFRESH_TOKEN_LIFETIME),
            int(getattr(settings, "KEYWARD_CLIENT_TOKEN_LIFETIME", 0)),
        )
        write = self.stdout.write
        write("# Set on every node, then restart them (docs/oauth.md, key rotation):")
        if algorithm != ring.algorithm:
            write(f"KEYWARD_JWT_ALGORITHM={algorithm}")
        write(f'KEYWARD_JWT_PRIVATE_KEY="{_one_line(private_pem(new_key))}{NEWLINE}"')
        write(f'KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS="{NEWLINE.join(map(_one_line, kept))}{NEWLINE}"')
        write(
            f"# Tokens signed by an old key live at most {longest} s after the switch; after "
            "that, KEYWARD_JWT_PREVIOUS_PUBLIC_KEYS may be emptied."
        )
