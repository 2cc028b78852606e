build-fp/obj/base/workq.o: src/base/workq.c src/base/workq.h \
 src/base/err.h
src/base/workq.h:
src/base/err.h:
