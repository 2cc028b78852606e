build-fp/obj/http/metrics.o: src/http/metrics.c src/http/internal.h \
 src/base/workq.h src/http/http.h src/base/buf.h src/base/err.h
src/http/internal.h:
src/base/workq.h:
src/http/http.h:
src/base/buf.h:
src/base/err.h:
