"""Every test vector of shared/PROTOCOL.md, checked with Python's msgpack and
with this package's codec; and the built-in kinds' vectors (§5.2) answered by
a real zpipe-worker, byte for byte."""

import codecs
import json
import os
import re
import subprocess
import unittest

import msgpack
import zmq

from support import ROOT, program
from zpipe import fingerprint, protocol

SPEC = os.path.join(ROOT, "shared", "PROTOCOL.md")


def parse_frame(text):
    """A frame as PROTOCOL.md writes it (JSON with nil, h'..' for bin) -> Python."""
    text = re.sub(r"h'([0-9a-f]*)'", r'{"bin": "\1"}', re.sub(r"\bnil\b", "null", text))
    return json.loads(text, object_hook=lambda o: bytes.fromhex(o["bin"]) if set(o) == {"bin"} else o)


def unhex(text):
    return bytes.fromhex(text.replace(" ", ""))


def table_rows(section_title, next_title):
    with open(SPEC, encoding="utf-8") as f:
        spec = f.read()
    start = spec.index(section_title)
    end = spec.index(next_title, start) if next_title else len(spec)
    return [line for line in spec[start:end].splitlines() if line.startswith("| ") and "`" in line]


HEX = re.compile(r"`([0-9a-f]{2}(?: [0-9a-f]{2})*)`")  # as tests/codec_test.cpp finds them


def parse_records(text):
    """The exec records a §11 row's meaning spells out, ``bin "hi\\n"`` and all."""
    def as_bin(m):
        return "h'" + codecs.escape_decode(m.group(1).encode())[0].hex() + "'"
    return [parse_frame(re.sub(r'bin "((?:[^"\\]|\\.)*)"', as_bin, r)) for r in re.findall(r'`(\["exec".*?\])`', text)]


def vectors_section():
    with open(SPEC, encoding="utf-8") as f:
        return f.read().split("## 11. Test vectors", 1)[1]


class TestVectors(unittest.TestCase):
    """Every hex vector of §11, told apart as tests/codec_test.cpp tells them:
    canonical (decode, and encode byte for byte), accepted on decode (never
    written so), rejected."""

    def rows(self):
        """The tables of §11, told apart by their header rows, so vectors a
        later revision adds are checked too. canonical: (number, frame or
        None, raw, records named in its meaning); decode_only: (number, raw,
        frame or None); rejected: (number, raw)."""
        section = vectors_section()
        canonical, decode_only, rejected = [], [], []
        table = None
        for line in section.splitlines():
            if not line.startswith("|"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] == "#":
                table = {"message": canonical, "decodes as": decode_only, "why": rejected,
                         "meaning": "mixed"}[cells[-1] if cells[-1] != "hex" else cells[1]]
                continue
            if set(cells[0]) <= set("-"):
                continue
            if table == "mixed":
                # Tables of one feature: "canonical `frame` = `hex`" or
                # "canonical `hex`" (the meaning then names its exec records),
                # "accepted `hex`" | meaning, "rejected `hex`".
                raw = unhex(HEX.findall(cells[2])[-1])
                frame = re.search(r"`(\[.*\])` =", cells[2])
                meaning_frame = re.search(r"`(\[\d.*\])`", cells[3])
                if cells[1] == "canonical":
                    canonical.append((cells[0], frame and parse_frame(frame.group(1)), raw, parse_records(cells[3])))
                elif cells[1] == "accepted":
                    decode_only.append((cells[0], raw, meaning_frame and parse_frame(meaning_frame.group(1))))
                else:
                    self.assertEqual(cells[1], "rejected", f"vector {cells[0]}")
                    rejected.append((cells[0], raw))
            elif table is canonical:
                canonical.append((cells[0], parse_frame(cells[2].strip("`")), unhex(cells[3].strip("`")), []))
            elif table is decode_only:
                frame = re.search(r"`(\[.*\])`", cells[2]).group(1)
                decode_only.append((cells[0], unhex(cells[1].strip("`")), parse_frame(frame)))
            else:
                rejected.append((cells[0], unhex(cells[1].strip("`"))))
        # Every hex string of §11 is one of the rows above: none is skipped.
        listed = sorted(unhex(h) for h in HEX.findall(section))
        ours = sorted([raw for _, _, raw, _ in canonical] + [raw for _, raw, _ in decode_only]
                      + [raw for _, raw in rejected])
        self.assertEqual(ours, listed, "a §11 vector is not classified")
        self.assertGreaterEqual(len(canonical), 22)
        self.assertGreaterEqual(len(decode_only), 4)
        self.assertGreaterEqual(len(rejected), 12)
        return canonical, decode_only, rejected

    def test_canonical_vectors_encode_and_decode_byte_for_byte(self):
        canonical, _, _ = self.rows()
        for number, frame, raw, records in canonical:
            with self.subTest(vector=number):
                plain = msgpack.unpackb(raw, raw=False)
                self.assertEqual(msgpack.packb(plain, use_bin_type=True), raw, "Python's msgpack re-encodes it")
                if frame is not None:
                    self.assertEqual(plain, frame)
                    self.assertEqual(msgpack.packb(frame, use_bin_type=True), raw)
                    self.assertEqual(protocol.encode(frame), raw)
                if records:  # the exec records its meaning spells out are its values
                    self.assertEqual(plain[6], records)
                decoded = protocol.decode(raw)
                self.assertEqual(decoded, plain)
                self.assertEqual(protocol.encode(decoded), raw)

    def test_decode_only_vectors(self):
        _, decode_only, _ = self.rows()
        for number, raw, frame in decode_only:
            with self.subTest(vector=number):
                msgpack.unpackb(raw, raw=False)  # valid msgpack...
                decoded = protocol.decode(raw)   # ...and a valid frame...
                if frame is not None:
                    fields = len(frame)  # the fields the vector names; a later extra one is ignored
                    self.assertEqual(decoded[:fields], frame)
                    self.assertEqual(protocol.encode(decoded[:fields]), msgpack.packb(frame, use_bin_type=True))
                # ...that the encoder never writes.
                self.assertNotEqual(protocol.encode(decoded), raw)

    def test_rejected_vectors(self):
        _, _, rejected = self.rows()
        for number, raw in rejected:
            with self.subTest(vector=number):
                with self.assertRaises(protocol.BadFrame):
                    protocol.decode(raw)

    def test_exec_record_read_as_the_spec_says(self):
        """Vector 32: str for bin becomes bytes, the nil twelfth element is no command."""
        _, decode_only, _ = self.rows()
        raw = next(raw for number, raw, _ in decode_only if number == "32")
        record = protocol.decode(raw)[6][0]
        self.assertEqual(record[:11], ["exec", 0, None, b"hi", b"", False, False, 0, 0, "h", ""])
        self.assertIsNone(record[11])

    def test_hello_with_kinds_appended_decodes_as_hello(self):
        frame = protocol.hello("w1", 8, ["square", "upper"])
        self.assertEqual(frame, unhex("95 02 01 a2 77 31 08 92 a6 73 71 75 61 72 65 a5 75 70 70 65 72"))
        self.assertEqual(protocol.decode(frame)[:4], [2, 1, "w1", 8])

    def test_header_bytes(self):
        self.assertEqual(protocol.peek_type(unhex("97 02 03 07")), protocol.TASKS)
        self.assertEqual(protocol.peek_type(unhex("dc 00 07 02 03")), protocol.TASKS)
        self.assertIsNone(protocol.peek_type(unhex("97 cc 02 03")))
        self.assertIsNone(protocol.peek_type(unhex("97 01 03 07")))  # version 1


class FingerprintVectors(unittest.TestCase):
    """§5.1: every fingerprint vector of the spec, computed by the pure-Python
    zpipe.fingerprint (the C++ engine's is checked in test_submit.py)."""

    def vectors(self):
        """(kind, source, argument, fingerprint) for each row of §5.1's table."""
        rows = []
        for row in table_rows("### 5.1 Job fingerprint", "### 5.2"):
            kind, what, want = [c.strip() for c in row.strip().strip("|").split("|")]
            kind, want = kind.strip("`"), want.strip("`")
            if m := re.fullmatch(r"count (\d+)", what):
                rows.append((kind, "count", int(m.group(1)), want))
            elif m := re.fullmatch(r"values `(\[.*\])`", what):
                rows.append((kind, "values", parse_frame(m.group(1)), want))
            elif m := re.fullmatch(r"`seq (\d+) (\d+)`", what):  # the output of seq(1)
                numbers = range(int(m.group(1)), int(m.group(2)) + 1)
                rows.append((kind, "input", "".join(f"{n}\n" for n in numbers).encode(), want))
            elif m := re.fullmatch(r"`(.*)`", what):  # the input's text, with \n for a newline
                rows.append((kind, "input", codecs.escape_decode(m.group(1).encode())[0], want))
            else:
                self.fail(f"§5.1: an input this test cannot read: {what!r}")
        self.assertGreaterEqual(len(rows), 4)
        self.assertEqual({source for _, source, _, _ in rows}, {"count", "input", "values"})
        return rows

    def test_every_spec_vector(self):
        compute = {"count": fingerprint.of_count, "input": fingerprint.of_input, "values": fingerprint.of_values}
        for kind, source, argument, want in self.vectors():
            with self.subTest(kind=kind, source=source, argument=argument):
                self.assertEqual(compute[source](kind, argument), want)

    def test_input_read_in_chunks_hashes_as_one(self):
        _, _, data, want = next(v for v in self.vectors() if v[1] == "input" and len(v[2]) > 100)
        self.assertEqual(fingerprint.of_input("square", (data[i:i + 7] for i in range(0, len(data), 7))), want)

    def test_values_bytes_count_as_str_and_bad_values_are_refused(self):
        self.assertEqual(fingerprint.of_values("k", [b"x\xff"]), fingerprint.of_values("k", ["x\udcff"]))
        for bad in (1.5, True, [1], 1 << 63):
            with self.subTest(payload=bad), self.assertRaises(ValueError):
                fingerprint.of_values("k", [bad])
        with self.assertRaises(ValueError):
            fingerprint.of_count("k", -1)


class BuiltinKindVectors(unittest.TestCase):
    """§5.2: K1 and K3 sent to a real zpipe-worker; its results are K2 and K4."""

    def kind_vectors(self):
        rows = table_rows("### 5.2 Built-in kinds", "## 6. Flow")
        vectors = {}
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split("|")]
            if re.fullmatch(r"K\d", cells[0]):
                frame = re.search(r"`(\[.*\])`", cells[1]).group(1)
                vectors[cells[0]] = (parse_frame(frame), unhex(cells[2].strip("`")))
        self.assertEqual(sorted(vectors), ["K1", "K2", "K3", "K4"])
        return vectors

    def test_vectors_encode_and_decode(self):
        for name, (frame, raw) in self.kind_vectors().items():
            with self.subTest(vector=name):
                self.assertEqual(protocol.encode(frame), raw)
                self.assertEqual(protocol.decode(raw), frame)

    def test_cpp_worker_answers_as_the_spec_says(self):
        vectors = self.kind_vectors()
        context = zmq.Context()
        self.addCleanup(context.destroy, 0)
        ventilator, sink = context.socket(zmq.ROUTER), context.socket(zmq.ROUTER)
        ventilator.bind("tcp://127.0.0.1:*")
        sink.bind("tcp://127.0.0.1:*")
        worker = subprocess.Popen([program("zpipe-worker"), "--name", "w1", "--once", "--threads", "1",
                                   "--ventilator", ventilator.last_endpoint.decode(),
                                   "--sink", sink.last_endpoint.decode()], stderr=subprocess.PIPE)
        self.addCleanup(lambda: worker.poll() is None and (worker.kill(), worker.wait()))

        def receive(socket, wanted):
            while True:
                self.assertTrue(socket.poll(10_000), "no frame from the worker within 10 s")
                peer, frame = socket.recv_multipart()
                if protocol.peek_type(frame) == wanted:
                    return peer, frame

        peer, _ = receive(ventilator, protocol.HELLO)
        for ask, answer in (("K1", "K2"), ("K3", "K4")):
            ventilator.send_multipart([peer, vectors[ask][1]])
            _, frame = receive(sink, protocol.RESULTS)
            self.assertEqual(frame.hex(" "), vectors[answer][1].hex(" "), f"{ask} answered")
        # §2, the headers a receiver may insist on: K1 with an array16 header
        # is served; with version 2 as a uint8 it is rejected (no results),
        # which the next frame's answer shows came and went.
        body = vectors["K1"][1][1:]
        ventilator.send_multipart([peer, bytes([0xDC, 0x00, 0x07]) + body])
        _, frame = receive(sink, protocol.RESULTS)
        self.assertEqual(frame, vectors["K2"][1], "array16 header served")
        ventilator.send_multipart([peer, bytes([0x97, 0xCC]) + body])
        ventilator.send_multipart([peer, vectors["K3"][1]])
        _, frame = receive(sink, protocol.RESULTS)
        self.assertEqual(frame, vectors["K4"][1], "the uint8-version frame got no answer")
        ventilator.send_multipart([peer, protocol.encode([protocol.VERSION, protocol.JOB_END, 7, True])])
        self.assertEqual(worker.wait(10), 0)
        self.assertIn(b"unexpected tasks message", worker.stderr.read())

    def test_python_builtin_kinds_agree_on_results(self):
        from zpipe import _compute, builtin_kinds, registered  # noqa: F401  (registers the kinds)
        vectors = self.kind_vectors()
        for ask, answer in (("K1", "K2"), ("K3", "K4")):
            frames, bad, _ = _compute.run_frame(vectors[ask][1], registered(), "w1")
            self.assertIsNone(bad)
            got = protocol.decode(frames[0])
            want = vectors[answer][0]
            self.assertEqual(got[:6], want[:6])  # job, worker, ids, oks
            self.assertEqual([v for v, ok in zip(got[6], got[5]) if ok], [v for v, ok in zip(want[6], want[5]) if ok])


if __name__ == "__main__":
    unittest.main()
