build-fp/obj/http/router.o: src/http/router.c src/http/internal.h \
 src/base/workq.h src/http/http.h src/base/buf.h src/base/err.h
src/http/internal.h:
src/base/workq.h:
src/http/http.h:
src/base/buf.h:
src/base/err.h:
