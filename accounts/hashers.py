"""Argon2id tuned to OWASP's password-storage baseline.

Django's default Argon2 parameters (t=2, m=100 MiB, p=8) cost ~115 ms per login on our 2-core
machines; OWASP and ASVS accept m=19 MiB, t=2, p=1, which costs tens of milliseconds and keeps a
login from being a cheap denial of service. Hashes made with other parameters are upgraded on the
next successful login (Django's ``must_update``).
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class KeywardArgon2PasswordHasher(Argon2PasswordHasher):
    algorithm = "argon2"
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
