#!/usr/bin/env python3
"""Makes a NATS user NKey pair for the forwarding tests: prints the public
key (U...) on the first line and the seed (SU...) on the second. The
encoding is the one nats-server and libnats use: a prefix byte, the
Ed25519 key, a CRC-16/XMODEM little-endian, in base32 without padding."""
import base64, os, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization
def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc
def enc(raw):
    c = crc16(raw)
    return base64.b32encode(raw + bytes([c & 0xff, c >> 8])).decode().rstrip("=")
seed = os.urandom(32)
pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw)
PS, PU = 18 << 3, 20 << 3
print(enc(bytes([PU]) + pub))
print(enc(bytes([PS | (PU >> 5), (PU & 31) << 3]) + seed))
