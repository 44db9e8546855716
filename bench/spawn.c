/* Spawning `sh -c true` N times two ways, to see what glibc's posix_spawn costs beside the
 * clone(CLONE_VM | CLONE_VFORK) that CPython's subprocess (and mpf's exec/spawn.rs) use: mode 0
 * is posix_spawn as Rust's std calls it (SIGPIPE default, an empty mask, a new group), mode 1
 * the clone with only the handled signals reset. The parent handles INT, TERM, HUP and USR1,
 * as mpf does. Build and run: cc -O2 -o /tmp/spawn bench/spawn.c && for i in 1 2 3; do
 * /tmp/spawn 3000 0; /tmp/spawn 3000 1; done  (docs/performance.md, sixth session). */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include <sched.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <time.h>
#include <fcntl.h>
extern char **environ;
static void h(int s){}
static char *argv_[] = {"/bin/sh","-c","true",0};
static int child(void *a){
  sigset_t *old = a;
  struct sigaction sa = {0}; sa.sa_handler = SIG_DFL;
  for (int s=1;s<65;s++){ if(s==SIGKILL||s==SIGSTOP) continue; struct sigaction o; if (sigaction(s,0,&o)) continue; if (o.sa_handler==SIG_IGN||o.sa_handler==SIG_DFL) continue; sigaction(s,&sa,0);}
  setpgid(0,0);
  sigprocmask(SIG_SETMASK, old, 0);
  execve("/bin/sh", argv_, environ); _exit(127);
}
static double now(){struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec*1e-9;}
int main(int c, char**v){
  int n=atoi(v[1]); int mode=atoi(v[2]);
  signal(SIGINT,h); signal(SIGTERM,h); signal(SIGHUP,h); signal(SIGUSR1,h);
  char *stack = mmap(0, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0);
  double t0=now();
  for(int i=0;i<n;i++){
    pid_t p;
    if(mode==0){ posix_spawnattr_t at; posix_spawnattr_init(&at); sigset_t d; sigemptyset(&d); sigaddset(&d,SIGPIPE); posix_spawnattr_setsigdefault(&at,&d); posix_spawnattr_setpgroup(&at,0); posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF|POSIX_SPAWN_SETPGROUP|POSIX_SPAWN_SETSIGMASK); sigset_t m; sigemptyset(&m); posix_spawnattr_setsigmask(&at,&m);
      posix_spawn(&p,"/bin/sh",0,&at,argv_,environ); posix_spawnattr_destroy(&at);}
    else { sigset_t all, old; sigfillset(&all); pthread_sigmask(SIG_SETMASK,&all,&old);
      p = clone(child, stack+65536, CLONE_VM|CLONE_VFORK|SIGCHLD, &old);
      pthread_sigmask(SIG_SETMASK,&old,0);}
    int st; waitpid(p,&st,0);
  }
  printf("mode %d: %.1f us/spawn\n", mode, (now()-t0)/n*1e6);
}
