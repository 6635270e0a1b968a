#!/bin/sh
# upper.sh - an interactive service for wsd's exec plugin: every message
# the client sends comes back in capitals.  Each message is one line on
# stdin; each line written to stdout is one message.  The client leaving
# closes stdin (read fails, the loop ends) and sends SIGTERM.
#
# In wsd.conf:
#   { path = "/upper"; plugin = "exec";
#     settings = { command = [ "/usr/local/lib/wsd/upper.sh" ];
#                  env = [ "PATH=/usr/bin:/bin" ]; }; }

echo "hello $REMOTE_ADDR, say something"
while IFS= read -r line; do
	printf '%s\n' "$line" | tr '[:lower:]' '[:upper:]'
done
