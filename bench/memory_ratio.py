"""Peak memory one request costs `ax serve`, per byte of its body (issue 12, defect 1).

    python3 bench/memory_ratio.py target/release/ax

For each body shape, a fresh `ax serve` (mock provider, temp SQLite store) gets one
warm-up request, then the body; the growth of VmHWM (/proc/PID/status) over the warm
server, divided by the body's size, is the decoded cost per byte. Loopback only.
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
def status(pid, f):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(f+":"): return int(l.split()[1])
def post(port, body):
    s=socket.create_connection(("127.0.0.1",port)); s.settimeout(300)
    s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()+body)
    data=b""
    while True:
        c=s.recv(65536)
        if not c: break
        data+=c
    return data.split(b"\r\n",1)[0].decode()
def run(name, body, binary):
    db = os.path.join(tempfile.mkdtemp(), "ax.db")
    e=dict(os.environ, AX_DATABASE_URL="sqlite://"+db, AX_LOG="warn")
    p=subprocess.Popen([binary,"serve","--listen","127.0.0.1:0"],env=e,stderr=subprocess.PIPE,stdout=subprocess.DEVNULL)
    for line in p.stderr:
        m=re.search(rb"listening on http://127.0.0.1:(\d+)",line)
        if m: port=int(m.group(1));break
    post(port, b'{"model":"mock/demo","messages":[{"role":"user","content":"warm"}]}')
    time.sleep(0.3)
    base=status(p.pid,"VmHWM")
    st=post(port, body)
    time.sleep(0.3)
    peak=status(p.pid,"VmHWM")
    p.kill()
    grow=(peak-base)*1024
    print(f"{name:38s} body {len(body)/1e6:6.2f} MB  {st[9:12]}  peak growth {grow/1e6:7.1f} MB  ratio {grow/len(body):5.1f} bytes/byte")
b=sys.argv[1]
msg=lambda t: '{"role":"user","content":"%s"}'%t
run("1 KB typical chat", ('{"model":"mock/demo","messages":[%s]}'%",".join([msg("x"*240)]*4)).encode(), b)
run("5,000 messages x 1.8 KB text", ('{"model":"mock/demo","messages":[%s]}'%",".join([msg("x"*1800)]*5000)).encode(), b)
run("9,999 tiny messages", ('{"model":"mock/demo","messages":[%s]}'%",".join([msg("x")]*9999)).encode(), b)
run("99,000 {\"a\":1} objects (junk field)", ('{"model":"mock/demo","messages":[%s],"junk":[%s]}'%(msg("x"),",".join(['{"a":1}']*99000))).encode(), b)
run("1,500,000 zeros (junk field)", ('{"model":"mock/demo","messages":[%s],"junk":[%s]}'%(msg("x"),",".join(['0']*1500000))).encode(), b)
run("300,000 tiny messages (refused)", ('{"model":"mock/demo","messages":[%s]}'%",".join([msg("x")]*300000)).encode(), b)
