#ifndef SWITCHBOARD_CLIBPQ_SHIM_H
#define SWITCHBOARD_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif
#include <poll.h>
#endif
