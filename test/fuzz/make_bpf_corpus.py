#!/usr/bin/env python3
"""Write the seed corpus of the eBPF verifier fuzz target (test/fuzz_bpf_verify.c)
into test/fuzz/corpus/bpf: valid programs for every hook, each file an 8-byte header
(hook, variable-region length / 4, stack shift, 0...) and the program bytes.

    test/fuzz/make_bpf_corpus.py [build-dir]

With a build directory, the clang-built examples (build/examples/bpf/*.o) are added
too (their .text, extracted with llvm-objcopy)."""
import os, struct, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'corpus', 'bpf')
MSG, SCHED, EVENT, TEST, KERNEL, REDUCE, MEM = range(7)

def ins(code, dst=0, src=0, off=0, imm=0):
    return struct.pack('<BBhi', code, dst | src << 4, off, imm)

mov = lambda d, i: ins(0xb7, d, 0, 0, i)
movr = lambda d, s: ins(0xbf, d, s)
add = lambda d, i: ins(0x07, d, 0, 0, i)
addr = lambda d, s: ins(0x0f, d, s)
ldx = lambda sz, d, s, o: ins(0x61 | sz, d, s, o)   # sz: 0 w, 8 h, 0x10 b, 0x18 dw
stx = lambda sz, d, s, o: ins(0x63 | sz, d, s, o)
st = lambda sz, d, o, i: ins(0x62 | sz, d, 0, o, i)
jmp = lambda op, d, i, o: ins(0x05 | op, d, 0, o, i)
jmpr = lambda op, d, s, o: ins(0x0d | op, d, s, o)
call = lambda i: ins(0x85, 0, 0, 0, i)
local = lambda rel: ins(0x85, 0, 1, 0, rel)
atomic = lambda sz, op, d, s, o: ins(0xc3 | sz, d, s, o, op)
EXIT = ins(0x95)
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
JEQ, JGT, JGE, JSET, JNE, JLT, JLE = 0x10, 0x20, 0x30, 0x40, 0x50, 0xa0, 0xb0

def hdr(hook, varlen=64):
    return bytes([hook, varlen // 4, 0, 0, 0, 0, 0, 0])

seeds = {
    # every hook: read the context, return a number
    'msg_filter': (MSG, mov(0, 1) + ldx(W, 2, 1, 16) + jmp(JLE, 2, 3, 1) + mov(0, 0) + EXIT),
    'msg_name': (MSG, ldx(DW, 2, 1, 24) + ldx(B, 0, 2, 0) + ldx(DW, 3, 1, 32) + ldx(B, 3, 3, 5) + addr(0, 3) + EXIT),
    'sched_prio': (SCHED, ldx(W, 0, 1, 12) + ins(0x87, 0) + EXIT),
    'sched_memeq': (SCHED, st(W, 10, -8, 0x6f686365) + ldx(DW, 1, 1, 16) + movr(2, 10) + add(2, -8) + mov(3, 4) +
                    call(4) + EXIT),
    'event_defer': (EVENT, ldx(W, 2, 1, 0) + mov(0, 0) + jmp(JNE, 2, 7, 1) + mov(0, 1) + EXIT),
    'test_spill': (TEST, stx(DW, 10, 1, -8) + ldx(DW, 2, 10, -8) + ldx(DW, 0, 2, 8) + EXIT),
    'test_hash': (TEST, st(W, 10, -4, 0x636261) + movr(1, 10) + add(1, -4) + mov(2, 3) + call(3) + EXIT),
    'test_region': (TEST, ldx(DW, 2, 1, 64) + ldx(DW, 3, 1, 0) + ins(0x57, 3, 0, 0, 0xff) + addr(2, 3) +
                    ldx(B, 0, 2, 0) + st(B, 2, 0, 7) + EXIT),
    'test_loop': (TEST, mov(0, 0) + mov(2, 0) + addr(0, 2) + add(2, 1) + jmp(JLT, 2, 10, -3) + EXIT),
    'test_atomic': (TEST, st(DW, 10, -8, 5) + mov(2, 3) + atomic(DW, 0x01, 10, 2, -8) + mov(0, 5) + mov(3, 9) +
                    atomic(W, 0xf1, 10, 3, -8) + ldx(DW, 0, 10, -8) + addr(0, 2) + EXIT),
    'test_call': (TEST, mov(1, 4) + local(2) + add(0, 1) + EXIT + movr(0, 1) + ins(0x27, 0, 0, 0, 3) + EXIT),
    'test_ptrcmp': (TEST, mov(0, 0) + movr(2, 10) + add(2, -8) + jmpr(JLT, 2, 10, 1) + EXIT + mov(0, 1) + EXIT),
    'kernel_sum': (KERNEL, ldx(DW, 3, 1, 32) + ldx(DW, 4, 1, 40) + mov(0, 0) + jmp(JGT, 3, 1 << 20, 8) +
                   jmp(JEQ, 3, 0, 7) + mov(2, 0) + movr(5, 4) + addr(5, 2) + ldx(B, 5, 5, 0) + addr(0, 5) +
                   add(2, 1) + jmpr(JLT, 2, 3, -6) + stx(DW, 1, 0, 0) + EXIT),
    'kernel_write': (KERNEL, ldx(DW, 4, 1, 40) + st(B, 4, 3, 9) + ldx(B, 0, 4, 3) + EXIT),
    'reduce_add': (REDUCE, ldx(W, 2, 1, 4) + ldx(DW, 3, 1, 16) + ldx(DW, 4, 1, 24) + jmp(JGT, 2, 1 << 10, 11) +
                   jmp(JEQ, 2, 0, 10) + mov(5, 0) + movr(6, 5) + ins(0x67, 6, 0, 0, 2) + movr(7, 4) + addr(7, 6) +
                   ldx(W, 7, 7, 0) + addr(6, 3) + atomic(W, 0x00, 6, 7, 0) + add(5, 1) + jmpr(JLT, 5, 2, -9) +
                   mov(0, 0) + EXIT),
    'mem_limit': (MEM, ldx(DW, 2, 1, 0) + mov(0, 1) + jmp(JLE, 2, 1 << 20, 1) + mov(0, 0) + EXIT),
}

os.makedirs(OUT, exist_ok=True)
for name, (hook, prog) in seeds.items():
    with open(os.path.join(OUT, name + '.bin'), 'wb') as f:
        f.write(hdr(hook) + prog)
if len(sys.argv) > 1:
    objs = {'filter_call': MSG, 'priority': SCHED, 'kernel_sum': KERNEL, 'reduce_satadd': REDUCE,
            'sched_deadline': SCHED}
    for name, hook in objs.items():
        o = os.path.join(sys.argv[1], 'examples', 'bpf', name + '.o')
        if not os.path.exists(o):
            continue
        with tempfile.NamedTemporaryFile() as t:
            subprocess.run(['llvm-objcopy', '-O', 'binary', '--only-section=.text', o, t.name], check=True)
            text = open(t.name, 'rb').read()
        with open(os.path.join(OUT, 'clang_' + name + '.bin'), 'wb') as f:
            f.write(hdr(hook) + text)
