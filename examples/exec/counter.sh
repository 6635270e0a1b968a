#!/bin/sh
# counter.sh - a WebSocket service in a few lines of shell, for wsd's exec
# plugin: it sends the numbers 1 to N, one message a second, then ends
# (the connection closes with 1000).  N comes from the URL's query,
# ws://host/counter?to=5 (10 by default; 1 to 1000).
#
# In wsd.conf:
#   { path = "/counter"; plugin = "exec";
#     settings = { command = [ "/usr/local/lib/wsd/counter.sh" ]; }; }

to=10
case "$QUERY_STRING" in
to=*)	to=${QUERY_STRING#to=}; to=${to%%&*} ;;
*\&to=*) to=${QUERY_STRING#*&to=}; to=${to%%&*} ;;
esac
case "$to" in
''|*[!0-9]*) to=10 ;;
esac
[ "$to" -ge 1 ] && [ "$to" -le 1000 ] || to=10

# Diagnostics go to stderr: wsd logs them with the route and our pid.
echo "counting to $to for $REMOTE_ADDR" >&2

i=1
while [ "$i" -le "$to" ]; do
	echo "$i"
	i=$((i + 1))
	[ "$i" -le "$to" ] && sleep 1
done
exit 0
