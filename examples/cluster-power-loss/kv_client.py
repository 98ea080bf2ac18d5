# Writes keys until the server goes away, then waits for it to come back
# and checks that every acknowledged key survived.
import socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def connect():
    while True:
        # A timeout: a server that lost power mid-request never answers
        # (no FIN, no RST), and a read without one would wait forever.
        try: return socket.create_connection((host, port), timeout=2)
        except OSError: time.sleep(0.05)
acked = []
s = connect(); f = s.makefile("rw")
try:
    for i in range(count):
        f.write(f"PUT k{i}\n"); f.flush()
        reply = f.readline()
        if not reply: break
        acked.append(reply.split()[1])
        time.sleep(0.002)
except OSError as e:
    print("client: connection lost:", e.strerror or e)
print("client: acknowledged", len(acked), flush=True)
s.close()
time.sleep(0.5)
s = connect(); f = s.makefile("rw")
f.write("KEYS\n"); f.flush()
have = set(f.readline().split())
lost = [k for k in acked if k not in have]
print("client: survived", len(acked) - len(lost), "lost", len(lost), lost[:5])
sys.exit(1 if lost else 0)
