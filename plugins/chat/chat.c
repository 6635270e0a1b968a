/*
 * chat: chat rooms on topics, so a room spans every worker process and,
 * with a Redis backplane, every wsd node.
 *
 *   GET /chat?room=ROOM&nick=NICK
 *
 * nick is required and room defaults to "lobby"; both are 1 to 32 of
 * [A-Za-z0-9_.-], else the handshake is refused with 400.  Each text
 * message a client sends is one line of the room.  What the server sends,
 * all JSON text:
 *
 *   {"type":"join","room":R,"nick":N}             someone came in
 *   {"type":"message","room":R,"nick":N,"text":T,"ts":MS}
 *   {"type":"leave","room":R,"nick":N}            someone went
 *
 * ts is milliseconds since the Unix epoch, by the wall clock of the wsd
 * that received the line.  Everything, the sender's own lines and its
 * own join included, reaches clients only through the room's topic, so
 * every member, whatever worker or node it is on, sees each member's
 * events in the order they happened (those of two members on different
 * workers may interleave differently for different members).  Nicks are
 * not unique: the plugin has per worker state only, and a room's members
 * are spread over workers and nodes.
 *
 * A binary message closes the connection with 1003, a line longer than
 * max_line bytes with 1009.
 *
 * Metrics (with a `metrics` listener in wsd.conf, summed over workers):
 *   wsd_plugin_chat_lines_total{route}   lines published
 *   wsd_plugin_chat_members{route}       clients in a room
 *
 * Settings (all optional):
 *   max_line = 4096;           bytes in one line, 1 .. 1048576
 *   topic_prefix = "chat.";    the room's topic is prefix + room; 0 to
 *                              96 bytes of printable ASCII, no space
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wsd/plugin.h>

#include "chatproto.h"

#define DEFAULT_ROOM	"lobby"
#define PREFIX_MAX	(WSD_TOPIC_MAX - CHAT_NAME_MAX)

struct chat {
	struct wsd_route	*route;
	size_t			 max_line;
	const char		*prefix;
	unsigned long long	 lines;		/* published by this worker */
	struct wsd_metric	*m_lines;	/* the same, for Prometheus */
	struct wsd_metric	*m_members;	/* joined, in this worker */
};

/* Per connection, from the handshake until close. */
struct member {
	char	nick[CHAT_NAME_MAX + 1];
	char	room[CHAT_NAME_MAX + 1];
	char	topic[WSD_TOPIC_MAX + 1];
	int	joined;		/* subscribed and join published */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
prefix_ok(const char *p)
{
	size_t n;

	for (n = 0; p[n] != '\0'; n++)
		if ((unsigned char)p[n] < 0x21 || (unsigned char)p[n] > 0x7e)
			return 0;
	return n <= PREFIX_MAX;
}

static int
chat_init(const struct wsd_host *host, struct wsd_route *r, void **state)
{
	const char *prefix;
	long long max_line;
	struct chat *ch;

	(void)host;
	if (wsd_setting_int(r, "max_line", 4096, &max_line) == -1 ||
	    wsd_setting_string(r, "topic_prefix", "chat.", &prefix) == -1)
		return -1;
	if (max_line < 1 || max_line > 1048576) {
		wsd_setting_error(r, "max_line", "must be between 1 and 1048576");
		return -1;
	}
	if (!prefix_ok(prefix)) {
		wsd_setting_error(r, "topic_prefix", "must be at most 96 bytes "
		    "of printable ASCII without spaces");
		return -1;
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return -1;
	ch->route = r;
	ch->max_line = (size_t)max_line;
	ch->prefix = prefix;
	/* NULL (wsd logged why) is harmless: add and set ignore it. */
	ch->m_lines = wsd_metric_counter(r, "chat_lines_total",
	    "Chat lines published.");
	ch->m_members = wsd_metric_gauge(r, "chat_members",
	    "Clients in a chat room.");
	*state = ch;
	return 0;
}

static void
chat_fini(void *state)
{
	struct chat *ch = state;

	wsd_log(ch->route, WSD_LOG_INFO, "chat: %llu lines published",
	    ch->lines);
	free(ch);
}

/*
 * Refuse a bad nick or room before the 101, while the client can still
 * be told why with a status.  A room argument that is present but does
 * not decode (wsd_arg gives NULL for "%zz" or "%00") is a bad room, not
 * the default one.
 */
static int
chat_handshake(void *state, struct wsd_conn *c)
{
	struct chat *ch = state;
	const char *nick = wsd_arg(c, "nick"), *room = wsd_arg(c, "room");
	struct member *m;

	if (!chat_name_ok(nick))
		return 400;
	if (room == NULL) {
		if (chat_query_has(wsd_query(c), "room"))
			return 400;
		room = DEFAULT_ROOM;
	} else if (!chat_name_ok(room))
		return 400;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return 503;
	/* Lengths checked above: nick and room fit, prefix + room too. */
	snprintf(m->nick, sizeof(m->nick), "%s", nick);
	snprintf(m->room, sizeof(m->room), "%s", room);
	snprintf(m->topic, sizeof(m->topic), "%s%s", ch->prefix, room);
	wsd_set_data(c, m);
	return 0;
}

/* Publish one event of m's room; 0, or -1 if it could not go out. */
static int
publish(struct chat *ch, const struct member *m, const char *type,
    const char *text, size_t len)
{
	size_t n;
	char *s;
	int rc;

	if ((s = chat_event(type, m->room, m->nick, text, len, now_ms(),
	    &n)) == NULL)
		return -1;
	rc = wsd_publish(ch->route, m->topic, WSD_TEXT, s, n);
	free(s);
	return rc;
}

static void
chat_open(void *state, struct wsd_conn *c)
{
	struct chat *ch = state;
	struct member *m = wsd_get_data(c);

	if (m == NULL)
		return;
	/* Subscribe first, so the newcomer's own join confirms it is in. */
	if (wsd_subscribe(c, m->topic) == -1) {
		wsd_close(c, 1011, "cannot join the room");
		return;
	}
	if (publish(ch, m, "join", NULL, 0) == -1) {
		wsd_log(ch->route, WSD_LOG_WARNING, "chat: conn %llu: join of "
		    "%s to %s not published", (unsigned long long)wsd_conn_id(c),
		    m->nick, m->room);
		wsd_close(c, 1011, "cannot join the room");
		return;
	}
	m->joined = 1;
	wsd_metric_add(ch->m_members, 1);
	wsd_log(ch->route, WSD_LOG_DEBUG, "chat: conn %llu: %s joined %s",
	    (unsigned long long)wsd_conn_id(c), m->nick, m->room);
}

static void
chat_message(void *state, struct wsd_conn *c, int opcode, const void *data,
    size_t len)
{
	struct chat *ch = state;
	struct member *m = wsd_get_data(c);

	if (m == NULL || !m->joined)
		return;
	if (opcode != WSD_TEXT) {
		wsd_close(c, 1003, "text lines only");
		return;
	}
	if (len > ch->max_line) {
		wsd_close(c, 1009, "line too long");
		return;
	}
	/*
	 * What fails here is the JSON (no memory) or the publish, for a
	 * line whose JSON, escapes and all (up to six bytes for one control
	 * byte), is over the route's max_message_size.  Either way the line
	 * is lost, and closing says so, where silence would let the client
	 * believe it was heard.
	 */
	if (publish(ch, m, "message", data, len) == -1) {
		wsd_log(ch->route, WSD_LOG_WARNING, "chat: conn %llu: line of "
		    "%zu bytes not published", (unsigned long long)
		    wsd_conn_id(c), len);
		wsd_close(c, 1011, "line not published");
		return;
	}
	ch->lines++;
	wsd_metric_inc(ch->m_lines);
}

static void
chat_close(void *state, struct wsd_conn *c, int code, const char *reason)
{
	struct chat *ch = state;
	struct member *m = wsd_get_data(c);

	(void)code;
	(void)reason;
	if (m == NULL)
		return;
	/* The connection's subscription ends with it; the others hear. */
	if (m->joined)
		wsd_metric_add(ch->m_members, -1);
	if (m->joined && publish(ch, m, "leave", NULL, 0) == -1)
		wsd_log(ch->route, WSD_LOG_WARNING, "chat: leave of %s from %s "
		    "not published", m->nick, m->room);
	free(m);
}

WSD_PLUGIN(
	.name = "chat",
	.version = "1.0",
	.init = chat_init,
	.fini = chat_fini,
	.handshake = chat_handshake,
	.open = chat_open,
	.message = chat_message,
	.close = chat_close,
);
