build-fp/obj/http/server.o: src/http/server.c src/base/clock.h \
 src/base/log.h src/base/workq.h src/http/http.h src/base/buf.h \
 src/base/err.h src/http/internal.h
src/base/clock.h:
src/base/log.h:
src/base/workq.h:
src/http/http.h:
src/base/buf.h:
src/base/err.h:
src/http/internal.h:
