/*
 * topic: see topic.h.  (Skeleton: filled in by the topics work.)
 */
#include <stddef.h>

#include <wsd/plugin.h>

#include "server.h"
#include "topic.h"

int
topics_init(struct server *srv)
{
	(void)srv;
	return 0;
}

void
topics_fini(struct server *srv)
{
	(void)srv;
}

size_t
topic_name_len(const char *name)
{
	size_t n;

	if (name == NULL)
		return 0;
	for (n = 0; name[n] != '\0'; n++)
		if ((unsigned char)name[n] < 0x21 ||
		    (unsigned char)name[n] > 0x7e || n >= WSD_TOPIC_MAX)
			return 0;
	return n;
}

int
topic_subscribe(struct conn *c, const char *name)
{
	(void)c;
	(void)name;
	return -1;
}

int
topic_unsubscribe(struct conn *c, const char *name)
{
	(void)c;
	(void)name;
	return -1;
}

int
topic_publish(struct route *r, const char *name, int opcode,
    const void *data, size_t len)
{
	(void)r;
	(void)name;
	(void)opcode;
	(void)data;
	(void)len;
	return -1;
}

void
topic_conn_closed(struct conn *c)
{
	(void)c;
}

size_t
topic_deliver(struct server *srv, const char *name, size_t nlen, int opcode,
    const void *data, size_t len)
{
	(void)srv;
	(void)name;
	(void)nlen;
	(void)opcode;
	(void)data;
	(void)len;
	return 0;
}

void
topic_foreach_name(struct server *srv,
    void (*fn)(const char *name, size_t nlen, void *arg), void *arg)
{
	(void)srv;
	(void)fn;
	(void)arg;
}
