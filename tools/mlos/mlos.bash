# bash completion for mlos(1): commands, their options, shard IDs from
# `mlos ps -q`, task names for `mlos call`, files where a file is wanted.
_mlos()
{
    local cur prev cmd
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=${COMP_WORDS[1]}
    local cmds="spawn ps stop call put get console compose noise help"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$cmds --version --help" -- "$cur"))
        return
    fi
    case "$prev" in
        --arch) COMPREPLY=($(compgen -W "x86_64 ppc process" -- "$cur")); return ;;
        --kvm) COMPREPLY=($(compgen -W "yes no auto" -- "$cur")); return ;;
        --image|-o|--out|--root) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --mem) COMPREPLY=($(compgen -W "32M 64M 256M 1G" -- "$cur")); return ;;
    esac
    local ids
    case "$cmd" in
        help) COMPREPLY=($(compgen -W "$cmds" -- "$cur")) ;;
        spawn) COMPREPLY=($(compgen -W "--arch --mem --image --kvm --count --progress --help" -- "$cur")) ;;
        ps) COMPREPLY=($(compgen -W "--json -q --help" -- "$cur")) ;;
        stop)
            ids=$(mlos ps -q 2>/dev/null)
            COMPREPLY=($(compgen -W "--all --help $ids" -- "$cur")) ;;
        call)
            if [[ "$cur" == @* ]]; then
                COMPREPLY=($(compgen -f -- "${cur#@}" | sed 's/^/@/'))
            elif [[ "$cur" == -* ]]; then
                COMPREPLY=($(compgen -W "--raw --hex --help" -- "$cur"))
            else
                ids=$(mlos ps -q 2>/dev/null)
                # the word after the ID is a task: the built-in ones
                if [[ " $ids " == *" $prev "* ]]; then
                    COMPREPLY=($(compgen -W "echo sum_u64 fail crash spin ftq.run bpf.load bpf.run" -- "$cur"))
                else
                    COMPREPLY=($(compgen -W "$ids" -- "$cur"))
                fi
            fi ;;
        put|get|console)
            ids=$(mlos ps -q 2>/dev/null)
            if [ "$COMP_CWORD" -eq 2 ] || [[ "$prev" == -* && "$prev" != -o ]]; then
                COMPREPLY=($(compgen -W "$ids -o -f --help" -- "$cur"))
            elif [ "$cmd" = put ] && [ "$COMP_CWORD" -eq 4 ]; then
                COMPREPLY=($(compgen -f -- "$cur"))
            fi ;;
        compose) COMPREPLY=($(compgen -W "--check --root --sources --out" -f -- "$cur")) ;;
        noise) COMPREPLY=($(compgen -W "host process x86_64 ppc --quantum-us --quanta --work --out --no-host --kvm --progress --quiet --help" -- "$cur")) ;;
    esac
}
complete -F _mlos mlos
