// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The event loop: the ring buffer, the drain tick, signals, the helper, the output. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "clock.h"
#include "runtime.h"

static int epoll_add(int epfd, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * From the process's start (below), SIGINT, SIGTERM and SIGHUP wait for the
 * event loop, which reads them from a signalfd: one sent while the programs
 * load is acted on once tracing runs. --snapshot has no loop: it gives them
 * back (how = SIG_UNBLOCK).
 */
static void stop_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
}

void hold_stop_signals(int how)
{
	sigset_t mask;

	stop_signals(&mask);
	sigprocmask(how, &mask, NULL);
}

/*
 * A signal that is ignored when it is sent is thrown away by the kernel, not
 * queued: v6trace started in the background inherits SIGINT ignored, and a
 * SIGINT sent before the stop signals are held is lost, v6trace then traced on
 * until a second one (measured: 4 of 10 lost at 1 ms after exec, from main()).
 * So they are held from the first code the process runs once the dynamic
 * loader has mapped it: a .preinit_array entry runs before any library's
 * constructor and before main(). What remains is the loader's own time.
 */
static void hold_stop_signals_at_start(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)argv;
	(void)envp;
	hold_stop_signals(SIG_BLOCK);
}

__attribute__((section(".preinit_array"),
	       used)) static void (*const hold_at_start)(int, char **,
							 char **) = hold_stop_signals_at_start;

int setup_loop(struct runtime *rt)
{
	struct itimerspec tick = {.it_interval = {0, V6T_DRAIN_MS * 1000000L},
				  .it_value = {0, V6T_DRAIN_MS * 1000000L}};
	sigset_t mask;

	stop_signals(&mask); /* held since the process began; SIGCHLD joins them */
	if (rt->cmd.pid)
		sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	rt->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	rt->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	rt->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rt->sigfd < 0 || rt->timerfd < 0 || rt->epfd < 0 ||
	    timerfd_settime(rt->timerfd, 0, &tick, NULL) ||
	    epoll_add(rt->epfd, rt->sigfd, EPOLLIN) || epoll_add(rt->epfd, rt->timerfd, EPOLLIN) ||
	    epoll_add(rt->epfd, ring_buffer__epoll_fd(rt->rb), EPOLLIN)) {
		fail("cannot set up the event loop: %s", strerror(errno));
		return -errno;
	}
	rt->watching_ring = true;
	/* A pipe reports EPOLLERR as soon as its reader is gone: exit at once. */
	if (rt->output.pipe && rt->output.kind != OUTPUT_SYSLOG)
		epoll_add(rt->epfd, rt->output.fd, 0);
	return 0;
}

/*
 * Reads the ring buffer, unless the output is that far behind: then the
 * records stay in the kernel's buffer and, once it is full, new events are
 * counted as lost there. A stalled reader never stalls the traced processes.
 */
static void drain(struct runtime *rt)
{
	bool room = output_pending(&rt->output) < OUTPUT_BACKLOG;
	struct epoll_event ev = {.data.fd = ring_buffer__epoll_fd(rt->rb)};

	if (room)
		ring_buffer__consume(rt->rb);
	lookups_progress(&rt->lookups, clock_ns(CLOCK_MONOTONIC)); /* asks what was read */
	flush_output(rt);
	/* the ring buffer stays readable while it is not read: stop watching it
	 * until the reader catches up, or the loop would spin */
	room = output_pending(&rt->output) < OUTPUT_BACKLOG;
	if (room != rt->watching_ring) {
		ev.events = room ? EPOLLIN : 0;
		if (!epoll_ctl(rt->epfd, EPOLL_CTL_MOD, ev.data.fd, &ev))
			rt->watching_ring = room;
	}
}

/* Traced processes alive: COMMAND, plus the forks followed, less the exits. */
static uint64_t traced_alive(const struct runtime *rt)
{
	uint64_t stats[V6T_STAT_MAX];

	if (tracer_read_stats(&rt->tracer, stats))
		return 0;
	return 1 + stats[V6T_STAT_FOLLOWED] - stats[V6T_STAT_EXITED];
}

/*
 * COMMAND has exited. A daemon it started (forked, then the parent returned)
 * may bind a moment later: keep following until all of them have exited, or
 * --linger has passed. True if tracing goes on.
 */
static bool start_linger(struct runtime *rt)
{
	if (!rt->opts->linger_ns || !traced_alive(rt))
		return false;
	rt->linger_until_ns = clock_ns(CLOCK_MONOTONIC) + rt->opts->linger_ns;
	return true;
}

/* During the linger, on each tick: true once it is over. */
static bool linger_over(const struct runtime *rt)
{
	return rt->linger_until_ns &&
	       (!traced_alive(rt) || clock_ns(CLOCK_MONOTONIC) >= rt->linger_until_ns);
}

/*
 * True when tracing should end. With -- COMMAND, it ends when COMMAND exits; a
 * SIGINT or SIGTERM sent to v6trace alone (not by the terminal, which signals
 * COMMAND too) is passed on to COMMAND first, and a second one ends tracing.
 */
static bool on_signal(struct runtime *rt)
{
	struct signalfd_siginfo si;

	if (read(rt->sigfd, &si, sizeof(si)) != sizeof(si))
		return false;
	if (si.ssi_signo == SIGCHLD)
		return command_reap(&rt->cmd) && !start_linger(rt);
	if (si.ssi_signo == SIGHUP && rt->output.kind == OUTPUT_FILE) {
		char err[512];

		if (output_reopen(&rt->output, err, sizeof(err)))
			fail("cannot reopen the output on SIGHUP, still writing the old file: %s",
			     err);
		return false;
	}
	rt->stop_signal = (int)si.ssi_signo;
	if (!rt->cmd.pid || rt->cmd.exited)
		return true;
	if (rt->forwarded++) { /* the second: end now, whatever COMMAND does */
		rt->killed = command_kill(&rt->cmd);
		return true;
	}
	if (si.ssi_code != SI_KERNEL)
		kill(rt->cmd.pid, (int)si.ssi_signo);
	return false;
}

/* The queue where failed binds wait for the helper's answers. */
int start_lookups(struct runtime *rt)
{
	if (lookups_init(&rt->lookups, &rt->helper, write_event, rt)) {
		fail("out of memory");
		return -1;
	}
	rt->helper_watched = lookups_fd(&rt->lookups);
	if (rt->helper_watched >= 0 && epoll_add(rt->epfd, rt->helper_watched, EPOLLIN)) {
		fail("cannot watch the helper: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The helper's socket is readable: answers, or its end. Once the helper is
 * gone (lookups said so on stderr) its socket leaves the epoll set: at EOF it
 * stays readable, and watching it would spin the loop.
 */
static void on_helper(struct runtime *rt)
{
	lookups_progress(&rt->lookups, clock_ns(CLOCK_MONOTONIC));
	if (lookups_fd(&rt->lookups) < 0) {
		epoll_ctl(rt->epfd, EPOLL_CTL_DEL, rt->helper_watched, NULL);
		rt->helper_watched = -1;
	}
}

/* Every V6T_DRAIN_MS: the loop drains the ring buffer; once a second, losses. */
static void on_tick(struct runtime *rt, uint64_t ticks)
{
	lookups_progress(&rt->lookups, clock_ns(CLOCK_MONOTONIC)); /* the late ones */
	rt->ticks += ticks;
	if (rt->ticks >= 1000 / V6T_DRAIN_MS) {
		rt->ticks = 0;
		note_lost_events(rt);
	}
}

int run_loop(struct runtime *rt)
{
	struct epoll_event evs[8];
	uint64_t ticks;
	int i, n;

	for (;;) {
		n = epoll_wait(rt->epfd, evs, 8, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == rt->output.fd && (evs[i].events & (EPOLLERR | EPOLLHUP)))
				rt->output.gone = true;
			else if (fd == rt->output.fd)
				flush_output(rt);
			else if (fd == rt->sigfd && on_signal(rt))
				return 0;
			else if (fd == rt->timerfd && read(fd, &ticks, sizeof(ticks)) > 0)
				on_tick(rt, ticks);
			else if (fd == rt->helper_watched)
				on_helper(rt);
			else if (fd == rt->exporter.timerfd)
				exporter_on_timer(rt);
			else if (fd == rt->exporter.helper_fd)
				exporter_on_helper(rt);
		}
		if (linger_over(rt))
			return 0;
		if (rt->output.gone)
			return 0;
		drain(rt);
		if (rt->output.gone)
			return 0;
	}
}
