// snn_layer: one neuron layer, time-multiplexed over P lanes and event-driven.
//
// Each timestep (`go` .. `done`) runs two phases:
//   accumulate: for every incoming edge k, for every event j in its source's list (the queue the top level
//               connects), for every group g of P neurons: acc[g] += W[EDGE_BASE[k] + j*G + g] (P lanes at once).
//               Cost: events x (G + 2) cycles (a multi-spike event of count c: c times); silent inputs cost nothing.
//   update:     for every neuron n (one per cycle, pipelined): x = (acc[n] + XBIAS[n]) >>> RSH, the neuron step
//               (snn_neuron) on its state, write back, emit (out_valid, n, s, v, i, x); acc[n] is cleared.
// Weights of edges with a non-negative shift are stored pre-shifted (W << shift), so one exact accumulator serves
// every edge; ACCW comes from the range proof. `init` loads the initial state (v_init, i_init, no spikes).
// Memories: weights (WDEPTH x P*WB, block RAM, W_INIT), accumulators (G x P*ACCW), state (N words), per-neuron
// parameters (N words, P_INIT) when PMASK says a parameter differs between neurons.
`default_nettype none
module snn_layer #(
    parameter N = 10,
    parameter P = 4,
    parameter G = 3,
    parameter NAW = 4,
    parameter GAW = 2,
    parameter K = 1,
    parameter KW = 1,
    parameter QAW = 8,
    parameter QCW = 8,
    parameter QNW = 1,
    parameter [K*32-1:0] EDGE_BASE = 0,
    parameter WB = 8,
    parameter WDEPTH = 16,
    parameter WAW = 4,
    parameter W_INIT = "",
    parameter ACCW = 16,
    parameter RSH = 0,
    parameter SYN_DELAY = 0,
    parameter SW = 1,
    parameter VW = 16,
    parameter IW = 16,
    parameter XW = 16,
    // neuron (see snn_neuron)
    parameter W = 48, parameter FB = 12, parameter IB = 24, parameter VB = 24, parameter CUBA = 0,
    parameter SPIKING = 1, parameter ADD_THEN_DECAY = 0, parameter ROUND = 0, parameter OVI = 0, parameter OVV = 0,
    parameter CMP_GE = 0, parameter RESET = 1, parameter TIMING = 0, parameter DZ_STATE = 1, parameter MULTI = 0,
    parameter CAP = 1, parameter ISH = 0, parameter HAS_VMIN = 0,
    // parameters: scalar values, or fields of the per-neuron parameter ROM (bit f of PMASK set)
    parameter signed [63:0] XBIAS = 0, parameter signed [63:0] ALPHA = 0, parameter signed [63:0] BETA = 0,
    parameter signed [63:0] THETA = 1, parameter signed [63:0] VRESET = 0, parameter signed [63:0] NBIAS = 0,
    parameter signed [63:0] VINIT = 0, parameter signed [63:0] IINIT = 0, parameter signed [63:0] VMIN = 0,
    parameter [8:0] PMASK = 0,
    parameter PWIDTH = 1,
    parameter P_INIT = "",
    parameter O_XBIAS = 0, parameter L_XBIAS = 1, parameter O_ALPHA = 0, parameter L_ALPHA = 1,
    parameter O_BETA = 0, parameter L_BETA = 1, parameter O_THETA = 0, parameter L_THETA = 1,
    parameter O_VRESET = 0, parameter L_VRESET = 1, parameter O_NBIAS = 0, parameter L_NBIAS = 1,
    parameter O_VINIT = 0, parameter L_VINIT = 1, parameter O_IINIT = 0, parameter L_IINIT = 1,
    parameter O_VMIN = 0, parameter L_VMIN = 1
) (
    input  wire                clk,
    input  wire                rst,
    input  wire                init,
    input  wire                go,
    output reg                 done,
    output wire                busy,
    // event source of the current edge (muxed by the top level on ev_k)
    output reg  [KW-1:0]       ev_k,
    output wire [QCW-1:0]      ev_idx,
    input  wire [QCW-1:0]      ev_count,
    input  wire [QAW-1:0]      ev_addr,
    input  wire [QNW-1:0]      ev_cnt,       // spike count of the event (1 for binary sources)
    // one record per neuron update
    output reg                 out_valid,
    output reg  [NAW:0]        out_n,
    output reg  [SW-1:0]       out_s,
    output reg  signed [W-1:0] out_v,
    output reg  signed [W-1:0] out_i,
    output reg  signed [W-1:0] out_x,
    output reg                 out_sat_i,
    output reg                 out_sat_v
);
    localparam S_IDLE = 4'd0, S_INIT = 4'd1, S_EDGE = 4'd2, S_FETCH = 4'd3, S_ADDR = 4'd4, S_RUN = 4'd5,
               S_UPD = 4'd6, S_WAIT = 4'd7;
    localparam STW = XW * SYN_DELAY + SW + IW + VW;   // state word: {x_prev, s, i, v}

    reg [3:0]        state, after;
    reg [QCW-1:0]    e;
    reg [GAW:0]      g;
    reg [NAW:0]      n;
    reg [GAW:0]      gi;
    localparam LNW = $clog2(P) + 1;
    reg [LNW-1:0]    lane;
    reg [WAW:0]      wbase;
    reg [QNW-1:0]    rep;
    reg              again;
    reg [4:0]        wait_n;
    assign busy = state != S_IDLE;
    assign ev_idx = e;

    // ---- memories ----------------------------------------------------------------------------------------------
    wire [P*WB-1:0]   w_word;
    wire [P*ACCW-1:0] acc_word;
    wire [STW-1:0]    st_word;
    wire [PWIDTH-1:0] prom;
    reg               acc_we, st_we;
    reg  [GAW:0]      acc_waddr;
    reg  [P*ACCW-1:0] acc_wdata;
    reg  [NAW:0]      st_waddr;
    reg  [STW-1:0]    st_wdata;
    wire              run_issue = state == S_RUN && g < G;
    wire              upd_issue = state == S_UPD;
    wire              init_issue = state == S_INIT;
    wire [WAW-1:0]    w_raddr = wbase + g;
    reg               a1_v;
    reg [GAW:0]       a1_g;
    wire [GAW:0]      acc_raddr = a1_v ? a1_g : gi;   // accumulate reads one cycle after the weight read

    snn_ram #(.WIDTH(P*WB), .DEPTH(WDEPTH), .AW(WAW), .INIT_FILE(W_INIT)) wmem (
        .clk(clk), .we(1'b0), .waddr({WAW{1'b0}}), .wdata({P*WB{1'b0}}),
        .re(run_issue), .raddr(w_raddr), .rdata(w_word));
    snn_ram #(.WIDTH(P*ACCW), .DEPTH(G), .AW(GAW+1)) amem (
        .clk(clk), .we(acc_we), .waddr(acc_waddr), .wdata(acc_wdata),
        .re(a1_v || upd_issue), .raddr(acc_raddr), .rdata(acc_word));
    snn_ram #(.WIDTH(STW), .DEPTH(N), .AW(NAW+1)) smem (
        .clk(clk), .we(st_we), .waddr(st_waddr), .wdata(st_wdata),
        .re(upd_issue), .raddr(n), .rdata(st_word));
    generate if (PMASK != 0) begin : g_prom
        snn_ram #(.WIDTH(PWIDTH), .DEPTH(N), .AW(NAW+1), .INIT_FILE(P_INIT)) pmem (
            .clk(clk), .we(1'b0), .waddr({(NAW+1){1'b0}}), .wdata({PWIDTH{1'b0}}),
            .re(upd_issue || init_issue), .raddr(n), .rdata(prom));
    end else begin : g_noprom
        assign prom = {PWIDTH{1'b0}};
    end endgenerate

    // ---- parameters of the neuron whose ROM word is in `pq` (the ROM output, registered) --------------------
    reg [PWIDTH-1:0] pq;
    always @(posedge clk) pq <= prom;
    wire signed [W-1:0] p_xbias, p_alpha, p_beta, p_theta, p_vreset, p_nbias, p_vinit, p_iinit, p_vmin;
`define SNN_FIELD(bit, wire_, val, off, len) \
    generate if (PMASK[bit]) begin : g_f``bit assign wire_ = $signed(pq[off +: len]); end \
    else begin : g_c``bit assign wire_ = val; end endgenerate
    `SNN_FIELD(0, p_xbias, XBIAS, O_XBIAS, L_XBIAS)
    `SNN_FIELD(1, p_alpha, ALPHA, O_ALPHA, L_ALPHA)
    `SNN_FIELD(2, p_beta, BETA, O_BETA, L_BETA)
    `SNN_FIELD(3, p_theta, THETA, O_THETA, L_THETA)
    `SNN_FIELD(4, p_vreset, VRESET, O_VRESET, L_VRESET)
    `SNN_FIELD(5, p_nbias, NBIAS, O_NBIAS, L_NBIAS)
    `SNN_FIELD(6, p_vinit, VINIT, O_VINIT, L_VINIT)
    `SNN_FIELD(7, p_iinit, IINIT, O_IINIT, L_IINIT)
    `SNN_FIELD(8, p_vmin, VMIN, O_VMIN, L_VMIN)
`undef SNN_FIELD

    // ---- accumulate pipeline: issue -> (w, acc) -> sum -> write ---------------------------------------------
    // issue (weight read) -> a1 (weight word out; accumulator read) -> a1b (weight word registered, accumulator
    // word out) -> a2 (sum registered, written): the extra register after the weight RAM keeps its output
    // multiplexer (many block RAMs for a large layer) out of the adder's path
    reg           a1b_v, a2_v;
    reg [GAW:0]   a1b_g, a2_g;
    reg [P*WB-1:0] w_q;
    reg [P*ACCW-1:0] a2_sum;
    integer p;
    always @(posedge clk) begin
        a1_v <= !rst && run_issue;
        a1_g <= g;
        a1b_v <= !rst && a1_v;
        a1b_g <= a1_g;
        w_q <= w_word;
        a2_v <= !rst && a1b_v;
        a2_g <= a1b_g;
        for (p = 0; p < P; p = p + 1)
            a2_sum[p*ACCW +: ACCW] <= $signed(acc_word[p*ACCW +: ACCW]) + $signed(w_q[p*WB +: WB]);
    end

    // ---- update pipeline: issue -> u1 (memories) -> u2 (x, state, params) -> u3 (neuron) -> write back ---------
    reg           u1_v, u1_clr, u2_v;
    reg [NAW:0]   u1_n, u2_n;
    reg [LNW-1:0] u1_lane;
    reg [GAW:0]   u1_gi;
    reg signed [W-1:0] u2_x, u2_xuse, u2_v_old, u2_i_old, u2_alpha, u2_beta, u2_theta, u2_vreset, u2_nbias, u2_vmin;
    reg [SW-1:0]  u2_r;
    // ua: the lane of the accumulator word, the state word and the parameters, registered
    wire [ACCW-1:0] acc_lane [0:P-1];
    genvar gl;
    generate for (gl = 0; gl < P; gl = gl + 1) begin : g_lane
        assign acc_lane[gl] = acc_word[gl*ACCW +: ACCW];
    end endgenerate
    reg                    ua_v;
    reg [NAW:0]            ua_n;
    reg signed [ACCW-1:0]  ua_acc;
    reg [STW-1:0]          ua_st;
    always @(posedge clk) begin
        ua_v <= !rst && u1_v;
        ua_n <= u1_n;
        ua_acc <= acc_lane[u1_lane];
        ua_st <= st_word;
    end
    wire signed [W-1:0] u1_x = ($signed(ua_acc) + p_xbias) >>> RSH;
    wire signed [VW-1:0] st_v = ua_st[VW-1:0];
    wire signed [IW-1:0] st_i = ua_st[VW +: IW];
    wire [SW-1:0] st_s = ua_st[VW+IW +: SW];
    wire signed [W-1:0] st_xprev;
    generate if (SYN_DELAY) begin : g_xprev
        wire signed [XW-1:0] xp = ua_st[VW+IW+SW +: XW];
        assign st_xprev = xp;
    end else begin : g_noxprev
        assign st_xprev = 0;
    end endgenerate
    localparam TW = NAW + 1 + W;
    wire signed [W-1:0] nv, ni;
    wire [SW-1:0] ns;
    wire nsat_i, nsat_v, n_valid;
    wire [TW-1:0] n_tag;
    wire [NAW:0] n_n = n_tag[TW-1 -: NAW+1];
    wire signed [W-1:0] n_x = n_tag[W-1:0];
    snn_neuron #(.W(W), .FB(FB), .IB(IB), .VB(VB), .CUBA(CUBA), .SPIKING(SPIKING),
        .ADD_THEN_DECAY(ADD_THEN_DECAY), .ROUND(ROUND), .OVI(OVI), .OVV(OVV), .CMP_GE(CMP_GE), .RESET(RESET),
        .TIMING(TIMING), .DZ_STATE(DZ_STATE), .MULTI(MULTI), .CAP(CAP), .CW(SW), .ISH(ISH), .TW(TW),
        .HAS_VMIN(HAS_VMIN)) neuron (
        .clk(clk), .rst(rst), .in_valid(u2_v), .in_tag({u2_n, u2_x}),
        .x(u2_xuse), .v_old(u2_v_old), .i_old(u2_i_old), .r_prev(u2_r), .alpha(u2_alpha), .beta(u2_beta),
        .theta(u2_theta), .v_reset(u2_vreset), .bias(u2_nbias), .v_min(u2_vmin), .out_valid(n_valid), .out_tag(n_tag),
        .v_new(nv), .i_new(ni), .s(ns), .sat_i(nsat_i), .sat_v(nsat_v));

    always @(posedge clk) begin
        u1_v <= !rst && upd_issue;
        u1_n <= n;
        u1_lane <= lane;
        u1_gi <= gi;
        u1_clr <= upd_issue && (lane == P - 1 || n == N - 1);
        u2_v <= !rst && ua_v;
        u2_n <= ua_n;
        u2_x <= u1_x;
        u2_xuse <= SYN_DELAY ? st_xprev : u1_x;
        u2_v_old <= st_v;
        u2_i_old <= st_i;
        u2_r <= st_s;
        u2_alpha <= p_alpha;
        u2_beta <= p_beta;
        u2_theta <= p_theta;
        u2_vreset <= p_vreset;
        u2_nbias <= p_nbias;
        u2_vmin <= p_vmin;
    end
    always @* begin
        out_valid = n_valid;
        out_n = n_n;
        out_s = ns;
        out_v = nv;
        out_i = CUBA ? ni : {W{1'b0}};
        out_x = n_x;
        out_sat_i = CUBA ? nsat_i : 1'b0;
        out_sat_v = nsat_v;
    end

    // ---- write ports ---------------------------------------------------------------------------------------------
    reg          i1_v, i2_v;
    reg [NAW:0]  i1_n, i2_n;
    always @* begin
        acc_we = a2_v || (u1_v && u1_clr) || (i2_v && i2_n < G);
        acc_waddr = a2_v ? a2_g : (u1_v ? u1_gi : i2_n[GAW:0]);
        acc_wdata = a2_v ? a2_sum : {P*ACCW{1'b0}};
        st_we = n_valid || (i2_v && i2_n < N);
        st_waddr = n_valid ? n_n : i2_n;
        st_wdata = 0;
        if (n_valid) begin
            st_wdata[VW-1:0] = nv[VW-1:0];
            st_wdata[VW +: IW] = ni[IW-1:0];
            st_wdata[VW+IW +: SW] = ns;
            if (SYN_DELAY) st_wdata[STW-1 -: XW] = n_x[XW-1:0];
        end else begin
            st_wdata[VW-1:0] = p_vinit[VW-1:0];
            st_wdata[VW +: IW] = p_iinit[IW-1:0];
        end
    end

    // ---- control ---------------------------------------------------------------------------------------------
    localparam INIT_LEN = (N > G) ? N : G;
    always @(posedge clk) begin
        done <= 1'b0;
        i1_v <= init_issue;
        i1_n <= n;
        i2_v <= i1_v;
        i2_n <= i1_n;
        if (rst) begin
            state <= S_IDLE;
            i1_v <= 1'b0;
            i2_v <= 1'b0;
        end else case (state)
            S_IDLE: begin
                n <= 0;
                if (init) state <= S_INIT;
                else if (go) begin
                    ev_k <= 0;
                    state <= S_EDGE;
                end
            end
            S_INIT: begin
                n <= n + 1'b1;
                if (n == INIT_LEN - 1) begin
                    wait_n <= 5'd1;    // the last initial state is written two cycles later
                    after <= S_IDLE;
                    state <= S_WAIT;
                end
            end
            S_EDGE: begin
                e <= 0;
                again <= 1'b0;
                if (ev_k == K) begin
                    n <= 0;
                    gi <= 0;
                    lane <= 0;
                    wait_n <= 5'd1;    // the last accumulator write lands before the first update read
                    after <= S_UPD;
                    state <= S_WAIT;
                end else if (ev_count == 0) ev_k <= ev_k + 1'b1;
                else state <= S_FETCH;
            end
            S_FETCH: state <= S_ADDR;
            S_ADDR: begin
                // a multi-spike event of count c is accumulated c times (the weights are added, never multiplied)
                wbase <= EDGE_BASE[ev_k*32 +: 32] + ev_addr * G;
                if (!again) rep <= ev_cnt - 1'b1;
                g <= 0;
                state <= S_RUN;
            end
            S_RUN: begin
                g <= g + 1'b1;
                if (g == G - 1) begin
                    if (rep != 0) begin
                        rep <= rep - 1'b1;
                        again <= 1'b1;
                        state <= S_FETCH;
                    end else begin
                        again <= 1'b0;
                        e <= e + 1'b1;
                        if (e + 1'b1 == ev_count) begin
                            ev_k <= ev_k + 1'b1;
                            state <= S_EDGE;
                        end else state <= S_FETCH;
                    end
                end
            end
            S_UPD: begin
                n <= n + 1'b1;
                if (lane == P - 1) begin
                    lane <= 0;
                    gi <= gi + 1'b1;
                end else lane <= lane + 1;
                if (n == N - 1) begin
                    wait_n <= 5'd14;   // u1, ua, u2 and the neuron pipeline: the last record and its write are out
                    after <= S_IDLE;
                    state <= S_WAIT;
                end
            end
            S_WAIT: begin
                if (wait_n == 5'd0) begin
                    state <= after;
                    done <= after == S_IDLE;
                end else wait_n <= wait_n - 1'b1;
            end
            default: state <= S_IDLE;
        endcase
    end
endmodule
`default_nettype wire
