# Writes k0, k1, ... to Redis (SET over RESP), one every 10 ms, until the
# server goes away; appends each acknowledged key and the virtual time of
# its acknowledgement to ACKED (on this node's own disk).
import socket, sys, time
host, port, acked_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
while True:  # the nodes start together: wait until Redis listens
    try:
        sock = socket.create_connection((host, port))
        break
    except ConnectionRefusedError:
        time.sleep(0.05)
replies = sock.makefile("rb")
count = 0
with open(acked_path, "w") as acked:
    for i in range(100000):
        key = f"k{i}"
        try:
            sock.sendall(f"*3\r\n$3\r\nSET\r\n${len(key)}\r\n{key}\r\n$1\r\n{i % 10}\r\n".encode())
            reply = replies.readline()
        except OSError as e:
            print(f"writer: connection lost after {count} acknowledged writes: {e.strerror}", flush=True)
            break
        if reply != b"+OK\r\n":
            print(f"writer: connection lost after {count} acknowledged writes ({reply!r})", flush=True)
            break
        acked.write(f"{key} {time.time():.6f}\n")
        acked.flush()
        count += 1
        time.sleep(0.01)
