# A tiny durable log server: each "PUT key" line is appended to log.txt and
# acknowledged with "OK key"; "KEYS" answers every key the log holds.
import os, socket, sys
port, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.makedirs(path, exist_ok=True)
log_path = os.path.join(path, "log.txt")
keys = []
if os.path.exists(log_path):
    with open(log_path) as f:
        keys = [line.split()[1] for line in f if line.startswith("PUT ") and line.endswith("\n")]
log = open(log_path, "a")
d = os.open(path, os.O_RDONLY); os.fsync(d); os.close(d)  # the log's name is durable
print("server: recovered", len(keys), "keys", flush=True)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port)); srv.listen(8)
while True:
    conn, _ = srv.accept()
    f = conn.makefile("rw")
    for line in f:
        if line.startswith("PUT "):
            log.write(line); log.flush()
            if mode == "fsync": os.fsync(log.fileno())
            keys.append(line.split()[1])
            f.write("OK " + line.split()[1] + "\n"); f.flush()
        elif line.startswith("KEYS"):
            f.write(" ".join(keys) + "\n"); f.flush()
    conn.close()
