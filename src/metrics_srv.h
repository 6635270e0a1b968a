/*
 * metrics_srv: the `metrics` listener (GET /metrics) of a worker, and
 * its answers to the other workers' scrapes.  See metrics_srv.c.
 */
#ifndef WSD_METRICS_SRV_H
#define WSD_METRICS_SRV_H

struct server;

/*
 * Serve scrapes on lfd, the listener the master opened (-1: none), and,
 * in a worker, answer the other workers' scrapes (also without lfd).
 * Returns 0 or -1.
 */
int	metrics_srv_start(struct server *srv, int lfd);
/* Accept no more scrapes (retiring); still answer the other workers. */
void	metrics_srv_stop_accepting(struct server *srv);
void	metrics_srv_free(struct server *srv);

#endif /* WSD_METRICS_SRV_H */
