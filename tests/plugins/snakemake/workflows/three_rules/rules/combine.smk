# Included by the Snakefile: part of the pipeline's source.
rule combine:
    input:
        expand("results/{sample}.txt", sample=SAMPLES),
    output:
        "results/combined.txt",
    shell:
        "cat {input} > {output}"
