build-fp/obj/base/log.o: src/base/log.c src/base/log.h src/base/clock.h \
 src/base/utf8.h
src/base/log.h:
src/base/clock.h:
src/base/utf8.h:
