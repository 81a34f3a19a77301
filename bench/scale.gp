# gnuplot -e "dat='build/bench/scale-counted.dat'; png='build/bench/scale-counted.png'; clock='counted: ...'" bench/scale.gp
# The scale curves of make bench: ibv_reg_mr latency against size, log-log,
# for the nogate baseline and the patched kernel (success), and for early
# and late refusal on the patched kernel under swiotlb=force.
set terminal pngcairo size 900,600 font ",10"
set output png
set title sprintf("ibv_reg_mr latency against size (medians; %s)", clock) noenhanced
set logscale x 4
set logscale y
set xtics ("4 KiB" 4096, "16 KiB" 16384, "64 KiB" 65536, "256 KiB" 262144, \
            "1 MiB" 1048576, "4 MiB" 4194304, "16 MiB" 16777216, "64 MiB" 67108864, \
            "256 MiB" 268435456, "1 GiB" 1073741824, "4 GiB" 4294967296, "8 GiB" 8589934592)
set xlabel "registration size"
set ylabel "latency (µs)"
set key top left
set grid
plot dat using 1:2 with linespoints title "success, nogate (stock 6.12 mapping)", \
     dat using 1:3 with linespoints title "success, patched", \
     dat using 1:4 with linespoints title "refusal, early (patched)", \
     dat using 1:5 with linespoints title "refusal, late (early check off)"
