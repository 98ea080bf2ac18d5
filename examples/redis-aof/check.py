# After the primary's restart: which acknowledged writes survived?
# check.py HOST PORT ACKED -- prints the verdict; exits 1 when Redis's
# documented guarantee for its appendfsync mode is broken: `always` loses no
# acknowledged write; `everysec` loses at most about a second of them (a
# second or two: the fsync runs once a second, in the background); exits 2
# when the restarted server does not answer (it refused to load its AOF).
import socket, sys, time
host, port, acked_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
acked = [(line.split()[0], float(line.split()[1])) for line in open(acked_path) if line.strip()]
for attempt in range(20):
    try:
        sock = socket.create_connection((host, port))
        break
    except ConnectionRefusedError:
        time.sleep(0.1)
else:
    print(f"check: {len(acked)} acknowledged; the restarted primary does not answer (see its log: it refused its AOF)")
    sys.exit(2)
replies = sock.makefile("rb")
sock.sendall(b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$11\r\nappendfsync\r\n")
config = [replies.readline() for _ in range(5)]  # *2, $11, appendfsync, $N, the mode
mode = config[4].strip().decode()
lost = []
for key, at in acked:
    sock.sendall(f"*2\r\n$3\r\nGET\r\n${len(key)}\r\n{key}\r\n".encode())
    header = replies.readline()
    if header.startswith(b"$-1"):
        lost.append((key, at))
    else:
        replies.readline()
last = acked[-1][1] if acked else 0.0
window = last - min(at for _, at in lost) if lost else 0.0
print(f"check: appendfsync {mode}: {len(acked)} acknowledged, {len(lost)} lost"
      + (f" (the oldest lost was acknowledged {window * 1000:.0f} ms before the last acknowledgement)" if lost else ""))
allowed = 0.0 if mode == "always" else 2.0
if lost and (mode == "always" or window > allowed):
    print(f"check: FAILED: appendfsync {mode} promises " + ("no acknowledged write lost" if mode == "always" else "at most about a second lost"))
    sys.exit(1)
print("check: within Redis's guarantee")
