build-fp/obj/http/response.o: src/http/response.c src/http/http.h \
 src/base/buf.h src/base/err.h src/json/json.h
src/http/http.h:
src/base/buf.h:
src/base/err.h:
src/json/json.h:
