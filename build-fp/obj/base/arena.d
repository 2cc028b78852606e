build-fp/obj/base/arena.o: src/base/arena.c src/base/arena.h
src/base/arena.h:
