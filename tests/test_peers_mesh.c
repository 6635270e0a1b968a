/*
 * The peer mesh of src/peers.c over real abstract Unix sockets, between
 * two processes that play two workers of one master: the parent and a
 * forked child share a slot table like the master's.  This binary links
 * peers.c without topic.c: the child's topic_deliver() below reports
 * each record it is handed on a pipe, so the parent sees exactly what
 * crossed, in which order.  (Delivery to WebSocket clients across real
 * workers is tests/integration/test_topics.py's.)
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include <wsd/plugin.h>

#include "config.h"
#include "generation.h"
#include "log.h"
#include "peers.h"
#include "server.h"
#include "topic.h"
#include "workers.h"

/* The child's report: one per record it was handed. */
struct report {
	int		 opcode;
	uint32_t	 nlen;
	uint64_t	 len;
	uint64_t	 sum;		/* of the payload's bytes */
	char		 name[WSD_TOPIC_MAX + 1];
	uint8_t		 head[16];	/* the payload's first bytes */
};

static int report_fd = -1;

size_t
topic_deliver(struct server *srv, const char *name, size_t nlen, int opcode,
    const void *data, size_t len)
{
	struct report r;
	const uint8_t *p = data;
	size_t i;

	(void)srv;
	memset(&r, 0, sizeof(r));
	r.opcode = opcode;
	r.nlen = (uint32_t)nlen;
	r.len = len;
	memcpy(r.name, name, nlen);
	for (i = 0; i < len; i++)
		r.sum += p[i];
	memcpy(r.head, data, len < sizeof(r.head) ? len : sizeof(r.head));
	if (write(report_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(3);
	return 1;
}

static struct worker_shm *shm;
static pid_t child = -1;
static int reports = -1;
static struct wsd_config cfg;
static struct generation gen;

#define SERIAL_A	11
#define SERIAL_B	12

static void
become(int index, uint32_t serial)
{
	worker_self.shm = shm;
	worker_self.slot = &shm->slot[index];
	worker_self.index = index;
	worker_self.number = index;
	worker_self.serial = serial;
}

static void
server_for_test(struct server *srv, uint64_t max_message)
{
	memset(srv, 0, sizeof(*srv));
	assert_non_null(srv->base = event_base_new());
	LIST_INIT(&srv->gens.live);
	cfg.limits.max_message_size = max_message;
	gen.cfg = &cfg;
	LIST_INSERT_HEAD(&srv->gens.live, &gen, link);
}

/* Worker B: receive and report until killed. */
static void
run_b(int fd)
{
	struct server srv;

	report_fd = fd;
	become(1, SERIAL_B);
	server_for_test(&srv, 4 * 1024 * 1024);
	if (peers_init(&srv) == -1)
		_exit(2);
	/* Ready: the slot says so, as a worker's would. */
	atomic_store(&shm->slot[1].state, SLOT_READY);
	event_base_dispatch(srv.base);
	_exit(0);
}

static int
setup(void **state)
{
	int p[2];

	(void)state;
	log_init();
	log_set_level(LOG_WARNING);
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(shm != MAP_FAILED);
	memset(shm, 0, sizeof(*shm));
	shm->master_pid = getpid();
	atomic_store(&shm->nslots, 2);
	atomic_store(&shm->slot[0].state, SLOT_READY);
	atomic_store(&shm->slot[0].serial, SERIAL_A);
	atomic_store(&shm->slot[0].pid, getpid());
	atomic_store(&shm->slot[1].state, SLOT_STARTING);
	atomic_store(&shm->slot[1].number, 1);
	atomic_store(&shm->slot[1].serial, SERIAL_B);
	assert_int_equal(pipe(p), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(p[0]);
		run_b(p[1]);
	}
	close(p[1]);
	reports = p[0];
	atomic_store(&shm->slot[1].pid, child);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	close(reports);
	munmap(shm, sizeof(*shm));
	return 0;
}

static uint64_t
now_ms(void)
{
	return workers_now_ms();
}

/* Run base until fd has a report to read (or 10 s pass). */
static void
read_report(struct event_base *base, struct report *r)
{
	uint64_t deadline = now_ms() + 10000;
	size_t got = 0;
	ssize_t n;
	fd_set rs;
	struct timeval tv;

	while (got < sizeof(*r)) {
		assert_true(now_ms() < deadline);
		event_base_loop(base, EVLOOP_NONBLOCK);
		FD_ZERO(&rs);
		FD_SET(reports, &rs);
		tv.tv_sec = 0;
		tv.tv_usec = 1000;
		if (select(reports + 1, &rs, NULL, NULL, &tv) <= 0)
			continue;
		n = read(reports, (uint8_t *)r + got, sizeof(*r) - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void
wait_ready(void)
{
	uint64_t deadline = now_ms() + 10000;

	while (atomic_load(&shm->slot[1].state) != SLOT_READY) {
		assert_true(now_ms() < deadline);
		usleep(1000);
	}
}

/*
 * Worker A publishes messages of many sizes, to several topics, text and
 * binary, in one burst: B is handed each once, complete, in order.
 */
static void
test_order_complete_once(void **state)
{
	struct server srv;
	struct report r;
	static uint8_t buf[1024 * 1024 + 3];
	size_t sizes[] = { 0, 1, 5, 100, 4000, 70000, 1024 * 1024 + 3 };
	char name[32];
	size_t i, j, k, len, nmsg = 0;
	uint64_t sum;

	(void)state;
	wait_ready();
	become(0, SERIAL_A);
	server_for_test(&srv, 4 * 1024 * 1024);
	assert_int_equal(peers_init(&srv), 0);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (k = 0; k < 300; k++) {
		len = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];
		snprintf(name, sizeof(name), "topic.%zu", k % 3);
		memcpy(buf, &k, sizeof(k) < len ? sizeof(k) : len);
		peers_publish(srv.peers, name, strlen(name),
		    k % 2 ? WSD_BINARY : WSD_TEXT, buf, len);
		nmsg++;
	}
	for (k = 0; k < nmsg; k++) {
		len = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];
		memcpy(buf, &k, sizeof(k) < len ? sizeof(k) : len);
		read_report(srv.base, &r);
		snprintf(name, sizeof(name), "topic.%zu", k % 3);
		assert_string_equal(r.name, name);
		assert_int_equal(r.opcode, k % 2 ? WSD_BINARY : WSD_TEXT);
		assert_int_equal(r.len, len);
		for (sum = 0, j = 0; j < len; j++)
			sum += buf[j];
		assert_int_equal(r.sum, sum);
		assert_memory_equal(r.head, buf, len < 16 ? len : 16);
	}
	assert_int_equal(peers_dropped(srv.peers), 0);
	/* Nothing more arrives. */
	peers_publish(srv.peers, "end", 3, WSD_TEXT, "end", 3);
	read_report(srv.base, &r);
	assert_string_equal(r.name, "end");
	peers_fini(&srv);
	event_base_free(srv.base);
}

/* A stream that breaks the record format is closed by the receiver. */
static void
test_malformed_closes(void **state)
{
	struct sockaddr_un sun;
	struct timeval tv = { 10, 0 };
	size_t n;
	char c;
	int fd;

	(void)state;
	wait_ready();
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = workers_peer_name(sun.sun_path, sizeof(sun.sun_path),
	    shm->master_pid, SERIAL_B);
	assert_true(n > 0);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	/* Opcode 9 is not a message. */
	assert_int_equal(write(fd, "\0\0\0\4\x09\1ab", 8), 8);
	assert_int_equal(read(fd, &c, 1), 0);
	close(fd);
}

/*
 * B stops reading (SIGSTOP): A's queue for it stops at the bound, what
 * is past it is dropped and counted, and publishing never blocks.  Once
 * B reads again, messages flow again.
 */
static void
test_bound_when_not_reading(void **state)
{
	struct server srv;
	struct report r;
	static uint8_t buf[1024 * 1024];
	uint64_t t0, drop;
	int k;

	(void)state;
	wait_ready();
	become(0, SERIAL_A);
	server_for_test(&srv, 4 * 1024 * 1024);
	assert_int_equal(peers_init(&srv), 0);
	memset(buf, 'b', sizeof(buf));
	/* Connected and flowing first. */
	peers_publish(srv.peers, "warm", 4, WSD_TEXT, "up", 2);
	read_report(srv.base, &r);
	assert_string_equal(r.name, "warm");
	assert_int_equal(kill(child, SIGSTOP), 0);
	t0 = now_ms();
	for (k = 0; k < 200; k++) {
		peers_publish(srv.peers, "flood", 5, WSD_BINARY, buf,
		    sizeof(buf));
		event_base_loop(srv.base, EVLOOP_NONBLOCK);
	}
	/* 200 MiB offered, at most 64 MiB (and what the kernel holds) kept. */
	drop = peers_dropped(srv.peers);
	assert_true(drop >= 100);
	assert_true(drop < 200);
	assert_true(now_ms() - t0 < 10000);
	assert_int_equal(kill(child, SIGCONT), 0);
	/* Every message not dropped arrives, then the next one. */
	for (k = 0; k < (int)(200 - drop); k++) {
		read_report(srv.base, &r);
		assert_string_equal(r.name, "flood");
		assert_int_equal(r.len, sizeof(buf));
	}
	peers_publish(srv.peers, "after", 5, WSD_TEXT, "x", 1);
	read_report(srv.base, &r);
	assert_string_equal(r.name, "after");
	assert_int_equal(peers_dropped(srv.peers), drop);
	peers_fini(&srv);
	event_base_free(srv.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_complete_once),
		cmocka_unit_test(test_malformed_closes),
		cmocka_unit_test(test_bound_when_not_reading),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
